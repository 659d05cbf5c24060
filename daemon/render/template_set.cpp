// Loading a folder of templates: one `<status>.yaml` per canonical status, each with its sms,
// email and zalo parts compiled with positions in the file, so an error reads
// "templates/result_ready.yaml:4:12: no value for 'dossier.cod'". Also the Vietnamese labels
// of the statuses (`status_label`).
#include "daemon/render/template_compiled.hpp"

#include <yaml-cpp/yaml.h>

#include "common/yaml_error.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tinbao::tpl {
namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kStatusLabels = {{
    {"received", "Đã tiếp nhận"},
    {"supplement_requested", "Yêu cầu bổ sung hồ sơ"},
    {"fee_required", "Yêu cầu thực hiện nghĩa vụ tài chính"},
    {"processing", "Đang xử lý"},
    {"transferred", "Chuyển xử lý liên thông"},
    {"paused", "Tạm dừng xử lý"},
    {"result_ready", "Có kết quả"},
    {"returned", "Đã trả kết quả"},
    {"rejected", "Từ chối tiếp nhận"},
    {"overdue", "Quá hạn xử lý"},
    {"cancelled", "Đã rút hồ sơ"},
}};

// 1-based column, in code points, of byte `pos` of `content`.
int column_of(const std::string& content, std::size_t pos) {
    pos = std::min(pos, content.size());
    std::size_t start = 0;
    if (pos > 0) {
        std::size_t nl = content.rfind('\n', pos - 1);
        if (nl != std::string::npos) start = nl + 1;
    }
    int col = 1;
    for (std::size_t i = start; i < pos; ++i)
        if ((static_cast<unsigned char>(content[i]) & 0xC0) != 0x80) ++col;
    return col;
}

class FileLoader {
public:
    FileLoader(std::string file, std::string content, std::vector<Error>& errors)
        : file_(std::move(file)), content_(std::move(content)), errors_(errors) {}

    void error(const YAML::Node& n, std::string message) {
        YAML::Mark m = n.Mark();
        if (m.is_null())
            errors_.push_back(Error{file_, 1, 1, std::move(message)});
        else
            errors_.push_back(Error{file_, m.line + 1,
                                    column_of(content_, static_cast<std::size_t>(m.pos)),
                                    std::move(message)});
    }

    // Compiles a scalar template with positions in the file. `one_line` parts (SMS, subject,
    // Zalo parameters) lose the trailing line break a `|` block scalar keeps.
    std::optional<Template> scalar(const YAML::Node& n, const std::string& what, bool one_line) {
        if (!n.IsScalar()) {
            error(n, "'" + what + "' must be a text");
            return std::nullopt;
        }
        std::string source = n.Scalar();
        if (one_line)
            while (!source.empty() && (source.back() == '\n' || source.back() == '\r' ||
                                       source.back() == ' '))
                source.pop_back();
        YAML::Mark m = n.Mark();
        auto pos = static_cast<std::size_t>(std::max(0, m.pos));
        char style = pos < content_.size() ? content_[pos] : ' ';
        int line = m.line + 1;
        int column = column_of(content_, pos);
        int indent = 0;
        if (style == '|' || style == '>') {
            // Block scalar: the text starts on the next line, at the block's indentation.
            std::size_t p = content_.find('\n', pos);
            indent = 0;
            while (p != std::string::npos) {
                std::size_t b = p + 1;
                std::size_t e = b;
                while (e < content_.size() && content_[e] == ' ') ++e;
                if (e < content_.size() && content_[e] != '\n' && content_[e] != '\r') {
                    indent = static_cast<int>(e - b);
                    break;
                }
                p = content_.find('\n', b);
            }
            line = m.line + 2;
            column = indent + 1;
        } else if (style == '"' || style == '\'') {
            column += 1;
        }
        auto r = Template::Impl::compile(source, file_, line, column, indent);
        if (auto* err = std::get_if<Error>(&r)) {
            errors_.push_back(std::move(*err));
            return std::nullopt;
        }
        return std::get<Template>(std::move(r));
    }

    std::optional<StatusTemplates::Email> email(const YAML::Node& n) {
        if (!n.IsMap()) {
            error(n, "'email' must be a mapping with subject, text and html");
            return std::nullopt;
        }
        std::optional<Template> subject, text, html;
        bool ok = true;
        for (const auto& kv : n) {
            std::string key = kv.first.Scalar();
            std::optional<Template>* slot = key == "subject" ? &subject
                                            : key == "text"  ? &text
                                            : key == "html"  ? &html
                                                             : nullptr;
            if (!slot) {
                error(kv.first, "unknown key 'email." + key + "' (expected subject, text, html)");
                ok = false;
                continue;
            }
            *slot = scalar(kv.second, "email." + key, key == "subject");
            if (!*slot) ok = false;
        }
        if (!n["subject"]) {
            error(n, "'email' needs a 'subject'");
            ok = false;
        }
        if (!n["text"]) {
            error(n, "'email' needs a 'text'");
            ok = false;
        }
        if (!ok) return std::nullopt;
        return StatusTemplates::Email{std::move(*subject), std::move(*text), std::move(html)};
    }

    std::optional<StatusTemplates::Zalo> zalo(const YAML::Node& n) {
        if (!n.IsMap()) {
            error(n, "'zalo' must be a mapping with template_id and params");
            return std::nullopt;
        }
        StatusTemplates::Zalo z;
        bool ok = true;
        for (const auto& kv : n) {
            std::string key = kv.first.Scalar();
            if (key == "template_id") {
                if (!kv.second.IsScalar() || kv.second.Scalar().empty()) {
                    error(kv.second, "'zalo.template_id' must be a non-empty text");
                    ok = false;
                } else {
                    z.template_id = kv.second.Scalar();
                }
            } else if (key == "params") {
                if (!kv.second.IsMap()) {
                    error(kv.second, "'zalo.params' must be a mapping of name: template");
                    ok = false;
                    continue;
                }
                for (const auto& p : kv.second) {
                    std::string name = p.first.Scalar();
                    auto t = scalar(p.second, "zalo.params." + name, true);
                    if (t)
                        z.params.emplace_back(name, std::move(*t));
                    else
                        ok = false;
                }
            } else {
                error(kv.first, "unknown key 'zalo." + key + "' (expected template_id, params)");
                ok = false;
            }
        }
        if (!n["template_id"]) {
            error(n, "'zalo' needs a 'template_id'");
            ok = false;
        }
        if (!ok) return std::nullopt;
        return z;
    }

    // Fills `st`; returns false when the file had errors.
    bool load(StatusTemplates& st) {
        std::size_t before = errors_.size();
        YAML::Node root;
        try {
            root = YAML::Load(content_);
        } catch (const YAML::Exception& e) {
            auto p = explain_yaml_error(content_, e.mark.line + 1, e.mark.column + 1, e.msg);
            errors_.push_back(Error{file_, p.line,
                                    p.line == e.mark.line + 1 ? e.mark.column + 1 : 1,
                                    std::move(p.message)});
            return false;
        }
        try {
            if (!root.IsMap()) {
                errors_.push_back(Error{file_, 1, 1, "expected a mapping of sms, email, zalo"});
                return false;
            }
            std::vector<std::string> seen;
            for (const auto& kv : root) {
                std::string key = kv.first.Scalar();
                if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
                    error(kv.first, "duplicate part '" + key + "'");
                    continue;
                }
                seen.push_back(key);
                if (key == "sms") {
                    st.sms = scalar(kv.second, "sms", true);
                } else if (key == "email") {
                    st.email = email(kv.second);
                } else if (key == "zalo") {
                    st.zalo = zalo(kv.second);
                } else {
                    error(kv.first, "unknown part '" + key + "' (expected sms, email, zalo)");
                }
            }
        } catch (const YAML::Exception& e) {
            errors_.push_back(Error{file_, e.mark.line + 1, e.mark.column + 1, e.msg});
        }
        if (errors_.size() == before && !st.sms && !st.email && !st.zalo)
            errors_.push_back(Error{file_, 1, 1, "no sms, email or zalo part"});
        return errors_.size() == before;
    }

private:
    std::string file_;
    std::string content_;
    std::vector<Error>& errors_;
};

}  // namespace

std::shared_ptr<const TemplateSet> TemplateSet::load(const std::string& dir,
                                                     std::vector<Error>& errors) {
    return load_from(dir, nullptr, errors);
}

std::shared_ptr<const TemplateSet> TemplateSet::load_named(const std::string& dir,
                                                           const std::vector<std::string>& names,
                                                           std::vector<Error>& errors) {
    return load_from(dir, &names, errors);
}

std::shared_ptr<const TemplateSet> TemplateSet::load_from(const std::string& dir,
                                                          const std::vector<std::string>* names,
                                                          std::vector<Error>& errors) {
    namespace fs = std::filesystem;
    auto set = std::make_shared<TemplateSet>();
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        errors.push_back(Error{dir, 0, 0, "not a folder"});
        return set;
    }
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path& p = it->path();
        std::error_code fec;
        if (p.extension() == ".yaml" && it->is_regular_file(fec)) files.push_back(p);
    }
    if (ec) errors.push_back(Error{dir, 0, 0, "cannot list the folder: " + ec.message()});
    std::sort(files.begin(), files.end());
    for (const fs::path& p : files) {
        std::string file = p.string();
        std::string status = p.stem().string();
        if (names) {
            // A rule's template is required by the rule; one of no rule (a rule taken out of
            // the config) is left alone.
            if (std::find(names->begin(), names->end(), status) == names->end()) continue;
        } else if (!std::any_of(kStatusLabels.begin(), kStatusLabels.end(),
                                [&](const auto& kv) { return kv.first == status; })) {
            errors.push_back(Error{file, 1, 1,
                                   "'" + status + "' is not a canonical status (file names are "
                                   "<status>.yaml)"});
            continue;
        }
        std::ifstream in(p, std::ios::binary);
        if (!in) {
            errors.push_back(Error{file, 0, 0, "cannot read the file"});
            continue;
        }
        std::ostringstream buf;
        buf << in.rdbuf();
        StatusTemplates st;
        st.status = status;
        st.file = file;
        FileLoader loader(file, buf.str(), errors);
        if (loader.load(st))
            set->by_status_.emplace(status, std::move(st));
        else
            set->failed_.push_back(status);
    }
    return set;
}

const StatusTemplates* TemplateSet::find(std::string_view status) const {
    auto it = by_status_.find(status);
    return it == by_status_.end() ? nullptr : &it->second;
}

std::string_view status_label(std::string_view status) {
    for (const auto& [key, label] : kStatusLabels)
        if (key == status) return label;
    return status;
}

}  // namespace tinbao::tpl
