// The template language (docs/templates.md): `{{ path | filter | filter(arg) }}` and
// `{% if path %}…{% elif path %}…{% else %}…{% endif %}`, compiled once at load.
//
// Rendering is pure: no I/O, no locks; safe from any thread on a const Template.
// The render context is the event as JSON (NFC-normalised) plus `status_label`.
#pragma once

#include <boost/json/value.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tinbao::tpl {

struct Error {
    std::string file;
    int line = 0;     // 1-based, in the file
    int column = 0;   // 1-based
    std::string message;
    std::string str() const;  // "file:line:column: message"
};

// A value a template names: `{{ path }}` inserts it, `{% if path %}` only tests it.
struct FieldRef {
    std::string path;  // dotted, as written
    int line = 0;
    int column = 0;
    bool tested = false;  // in an `if`/`elif`
};

struct RenderOptions {
    bool html_escape = false;   // values inserted are HTML-escaped (email html part)
};

class Template {
public:
    // Compiles `source`, which starts at (line, column) of `file` (for error positions).
    static std::variant<Template, Error> compile(std::string_view source, std::string file,
                                                 int line = 1, int column = 1);
    Template();
    ~Template();
    Template(Template&&) noexcept;
    Template& operator=(Template&&) noexcept;
    Template(const Template&);
    Template& operator=(const Template&);

    // Renders against `ctx` (a JSON object). A missing value without `default` is an Error
    // naming the file:line:column of the expression.
    std::variant<std::string, Error> render(const boost::json::value& ctx,
                                            const RenderOptions& opts = {}) const;

    const std::string& source() const;
    const std::string& file() const;
    // Every value the template names, in source order (template_fields.cpp).
    std::vector<FieldRef> fields() const;

    struct Impl;
private:
    std::shared_ptr<const Impl> impl_;
};

// The parts of one `<status>.yaml` file.
struct StatusTemplates {
    std::string status;
    std::string file;
    std::optional<Template> sms;
    struct Email {
        Template subject;
        Template text;
        std::optional<Template> html;
    };
    std::optional<Email> email;
    struct Zalo {
        std::string template_id;
        std::vector<std::pair<std::string, Template>> params;
    };
    std::optional<Zalo> zalo;
};

// Every template file of a folder, loaded and compiled. Immutable once built.
class TemplateSet {
public:
    // Loads `<dir>/<status>.yaml` for each status file found. Errors (YAML, syntax, unknown
    // parts) are appended to `errors`; a file with errors is left out.
    static std::shared_ptr<const TemplateSet> load(const std::string& dir,
                                                   std::vector<Error>& errors);
    // The same for the files `<name>.yaml` of a folder whose name is one of `names`
    // (templates/reminders/: one per reminder rule; others are left out); find() by name.
    static std::shared_ptr<const TemplateSet> load_named(const std::string& dir,
                                                         const std::vector<std::string>& names,
                                                         std::vector<Error>& errors);
    const StatusTemplates* find(std::string_view status) const;
    // Statuses whose file had errors (reported by load()): not in all(), and not to be reported
    // again as missing.
    const std::vector<std::string>& failed() const { return failed_; }
    const std::map<std::string, StatusTemplates, std::less<>>& all() const { return by_status_; }

private:
  static std::shared_ptr<const TemplateSet> load_from(const std::string& dir,
                                                      const std::vector<std::string>* names,
                                                      std::vector<Error>& errors);
  std::map<std::string, StatusTemplates, std::less<>> by_status_;
  std::vector<std::string> failed_;
};

// Checks every value the templates name against the event's fields (docs/api.md, "The event";
// daemon/model/event_fields.hpp) and `extra`, paths the operator's events carry beyond those
// (`tinbaod --check` takes them from the sample events). `data.*` is free-form. One Error per
// unknown or misused value, at its position, with a suggestion when one is close
// ("did you mean 'dossier.code'?"). Needs no sample event.
std::vector<Error> check_fields(const StatusTemplates& st, const std::vector<std::string>& extra);

// The Vietnamese name of a canonical status ("result_ready" -> "Có kết quả"), or the input.
std::string_view status_label(std::string_view status);

}  // namespace tinbao::tpl
