#include "daemon/ctl_output.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace tinbao::ctl {
namespace {

namespace json = boost::json;

// Characters (code points) of UTF-8 text: Vietnamese names line up in a terminal.
std::size_t width(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

// At most `max` characters, "…" marking a cut; one line.
std::string fit(std::string s, std::size_t max) {
    for (char& c : s)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (width(s) <= max) return s;
    std::size_t n = 0, i = 0;
    for (; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            if (n == max - 1) break;
            ++n;
        }
    }
    return s.substr(0, i) + "…";
}

void pad(std::FILE* out, const std::string& s, std::size_t w) {
    std::fputs(s.c_str(), out);
    for (std::size_t i = width(s); i < w; ++i) std::fputc(' ', out);
}

}  // namespace

std::string pretty(const json::value& v, int indent) {
    std::string padding(indent, ' ');
    if (v.is_object()) {
        if (v.as_object().empty()) return "{}";
        std::string out = "{\n";
        bool first = true;
        for (auto& [k, x] : v.as_object()) {
            if (!first) out += ",\n";
            first = false;
            out += padding + "  " + json::serialize(json::string(k)) + ": " + pretty(x, indent + 2);
        }
        return out + "\n" + padding + "}";
    }
    if (v.is_array()) {
        if (v.as_array().empty()) return "[]";
        std::string out = "[\n";
        bool first = true;
        for (auto& x : v.as_array()) {
            if (!first) out += ",\n";
            first = false;
            out += padding + "  " + pretty(x, indent + 2);
        }
        return out + "\n" + padding + "]";
    }
    return json::serialize(v);
}

std::string cell(const json::value* v) {
    if (!v || v->is_null()) return "-";
    if (v->is_string()) return std::string(v->as_string());
    return json::serialize(*v);
}

std::string cell(const json::object& o, const char* key) { return cell(o.if_contains(key)); }

void Table::print(std::FILE* out) const {
    std::vector<std::size_t> w(headers_.size());
    std::vector<std::vector<std::string>> cells;
    for (auto& row : rows_) {
        std::vector<std::string> r;
        for (std::size_t i = 0; i < headers_.size(); ++i)
            r.push_back(fit(i < row.size() ? row[i] : "", max_width_));
        cells.push_back(std::move(r));
    }
    for (std::size_t i = 0; i < headers_.size(); ++i) {
        w[i] = width(headers_[i]);
        for (auto& r : cells) w[i] = std::max(w[i], width(r[i]));
    }
    auto line = [&](const std::vector<std::string>& r) {
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (i + 1 == r.size()) {
                std::fputs(r[i].c_str(), out);  // no trailing spaces
            } else {
                pad(out, r[i], w[i]);
                std::fputs("  ", out);
            }
        }
        std::fputc('\n', out);
    };
    line(headers_);
    for (auto& r : cells) line(r);
}

void print_fields(const std::vector<std::pair<std::string, std::string>>& fields, std::FILE* out) {
    std::size_t w = 0;
    for (auto& [k, v] : fields) w = std::max(w, width(k));
    for (auto& [k, v] : fields) {
        pad(out, k, w + 2);
        std::fprintf(out, "%s\n", v.c_str());
    }
}

void print_messages(const json::array& messages, bool with_event, bool with_detail) {
    std::vector<std::string> headers{"MESSAGE"};
    if (with_event) headers.push_back("EVENT");
    for (const char* h : {"CHANNEL", "PROVIDER", "TO", "STATE", "ATTEMPTS", "REASON", "UPDATED"})
        headers.emplace_back(h);
    if (with_detail) headers.emplace_back("DETAIL");
    Table t(std::move(headers));
    for (auto& m : messages) {
        if (!m.is_object()) continue;
        auto& o = m.as_object();
        std::string reason = "-", detail = "-";
        if (auto* e = o.if_contains("last_error"); e && e->is_object()) {
            reason = cell(e->as_object(), "reason");
            detail = cell(e->as_object(), "detail");
        }
        std::vector<std::string> row{cell(o, "id")};
        if (with_event) row.push_back(cell(o, "event_id"));
        for (const char* k : {"channel", "provider", "to", "state", "attempts"})
            row.push_back(cell(o, k));
        row.push_back(reason);
        row.push_back(cell(o, "updated_at"));
        if (with_detail) row.push_back(detail);
        t.add(std::move(row));
    }
    t.print();
}

int print_failure(const Answer& a, bool json_out) {
    if (json_out && a.json)
        std::printf("%s\n", pretty(*a.json).c_str());
    else
        std::fprintf(stderr, "tinbaoctl: %s\n", a.error_text().c_str());
    return 1;
}

}  // namespace tinbao::ctl
