// tinbaoctl's output: JSON for programs (indented, as tinbaoctl always printed it), tables for
// people on a terminal. The API's records are shown as they come; a table only picks columns.
//
// For the command-line tool only; not thread-safe (writes to stdout).
#pragma once

#include <boost/json/value.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "daemon/ctl_client.hpp"

namespace tinbao::ctl {

// Indented JSON, two spaces a level.
std::string pretty(const boost::json::value& v, int indent = 0);

// A value of a record as a table cell: strings as they are, null as "-", numbers as digits.
std::string cell(const boost::json::value* v);
std::string cell(const boost::json::object& o, const char* key);

// Columns sized to their widest cell (in characters, not bytes), cut at `max_width`.
class Table {
  public:
    explicit Table(std::vector<std::string> headers, std::size_t max_width = 48)
        : headers_(std::move(headers)), max_width_(max_width) {}
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    bool empty() const { return rows_.empty(); }
    void print(std::FILE* out = stdout) const;

  private:
    std::vector<std::string> headers_;
    std::vector<std::vector<std::string>> rows_;
    std::size_t max_width_;
};

// "key   value" lines, the keys aligned.
void print_fields(const std::vector<std::pair<std::string, std::string>>& fields,
                  std::FILE* out = stdout);

// The message records of a list as a table (dossier, event, dead letters).
void print_messages(const boost::json::array& messages, bool with_event, bool with_detail);

// Prints a failed answer: its JSON body when `json_out` (for programs), else one line on stderr
// (for people). Returns 1, the exit code of a failure.
int print_failure(const Answer& a, bool json_out);

}  // namespace tinbao::ctl
