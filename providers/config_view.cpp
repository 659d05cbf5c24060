// Reading one YAML mapping of the configuration with precise errors (see config_view.hpp).
#include "providers/config_view.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

namespace tinbao {

namespace {

using Millis = std::chrono::milliseconds;

// The key node and the value node of `key` in a mapping; both null when absent.
std::pair<YAML::Node, YAML::Node> find_entry(const YAML::Node& map, std::string_view key) {
    if (!map.IsMap()) return {};
    for (auto it = map.begin(); it != map.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == key) return {it->first, it->second};
    }
    return {};
}

int line_of_node(const YAML::Node& n) {
    if (!n.IsDefined()) return 0;
    auto mark = n.Mark();
    return mark.line >= 0 ? mark.line + 1 : 0;
}

bool parse_int64(std::string_view s, int64_t& out) {
    if (s.empty()) return false;
    std::size_t start = (s[0] == '+') ? 1 : 0;
    if (start == s.size()) return false;
    auto first = s.data() + start;
    auto last = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc() && ptr == last;
}

bool parse_double(std::string_view s, double& out) {
    if (s.empty()) return false;
    // from_chars for double is available in g++ 12; it rejects a leading '+', strip it.
    std::size_t start = (s[0] == '+') ? 1 : 0;
    if (start == s.size()) return false;
    auto first = s.data() + start;
    auto last = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(first, last, out, std::chars_format::general);
    return ec == std::errc() && ptr == last && std::isfinite(out);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

bool valid_env_name(std::string_view name) {
    if (name.empty()) return false;
    if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
}

std::string format_double(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
}

// A value worth quoting in an error: the text as written in the file (before expansion, so no
// secret from the environment or a credential file can leak), shortened.
std::string quoted_raw(const YAML::Node& n) {
    std::string s = n.IsScalar() ? n.Scalar() : std::string();
    if (s.size() > 40) s = s.substr(0, 40) + "...";
    return "'" + s + "'";
}

}  // namespace

std::string Diagnostic::str() const {
    std::string out = file;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
    if (!path.empty()) out += path + ": ";
    out += message;
    return out;
}

void Diagnostics::add(std::string file, int line, std::string path, std::string message) {
    items.push_back(Diagnostic{std::move(file), line, std::move(path), std::move(message)});
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == 0 || i > 15) return std::nullopt;  // no number, or one that cannot be meant
    int64_t n = 0;
    if (std::from_chars(s.data(), s.data() + i, n).ec != std::errc()) return std::nullopt;
    std::string_view unit = s.substr(i);
    int64_t factor = 0;
    if (unit == "ms")
        factor = 1;
    else if (unit == "s")
        factor = 1000;
    else if (unit == "m")
        factor = 60LL * 1000;
    else if (unit == "h")
        factor = 3600LL * 1000;
    else if (unit == "d")
        factor = 24LL * 3600 * 1000;
    else
        return std::nullopt;
    if (n > std::numeric_limits<int64_t>::max() / factor) return std::nullopt;
    return Millis(n * factor);
}

ConfigView::ConfigView(YAML::Node node, std::string path, std::string file,
                       std::shared_ptr<Diagnostics> diags)
    : node_(std::move(node)),
      path_(std::move(path)),
      file_(std::move(file)),
      diags_(diags ? std::move(diags) : std::make_shared<Diagnostics>()) {}

bool ConfigView::has(std::string_view key) const {
    auto [k, v] = find_entry(node_, key);
    return k.IsDefined() && v.IsDefined() && !v.IsNull();
}

int ConfigView::line() const { return line_of_node(node_); }

std::string ConfigView::key_path(std::string_view key) const {
    if (key.empty()) return path_;
    if (path_.empty()) return std::string(key);
    return path_ + "." + std::string(key);
}

int ConfigView::line_of(std::string_view key) const {
    auto [k, v] = find_entry(node_, key);
    int l = line_of_node(k);
    return l > 0 ? l : line();
}

void ConfigView::error(std::string_view key, std::string message) {
    diags_->add(file_, line_of(key), key_path(key), std::move(message));
}

void ConfigView::accept(std::string_view key) { known_.emplace(key); }

std::optional<std::string> ConfigView::expand(const YAML::Node& scalar, std::string_view key) {
    if (!scalar.IsScalar()) {
        error(key, "expected a string");
        return std::nullopt;
    }
    const std::string& in = scalar.Scalar();
    std::string out;
    out.reserve(in.size());
    bool ok = true;
    std::size_t i = 0;
    while (i < in.size()) {
        if (in.compare(i, 3, "$${") == 0) {
            out += "${";
            i += 3;
            continue;
        }
        if (in.compare(i, 2, "${") != 0) {
            out.push_back(in[i++]);
            continue;
        }
        auto close = in.find('}', i + 2);
        if (close == std::string::npos) {
            error(key, "unterminated '${' (write '$${' for a literal '${')");
            return std::nullopt;
        }
        std::string_view ref(in.data() + i + 2, close - i - 2);
        i = close + 1;
        if (ref.substr(0, 5) == "file:") {
            std::filesystem::path p(std::string(ref.substr(5)));
            if (p.empty()) {
                error(key, "'${file:}' names no file");
                ok = false;
                continue;
            }
            if (p.is_relative()) {
                std::error_code ec;
                auto base = std::filesystem::absolute(std::filesystem::path(file_), ec);
                p = (ec ? std::filesystem::path(file_) : base).parent_path() / p;
            }
            errno = 0;
            std::error_code dir_ec;
            if (std::filesystem::is_directory(p, dir_ec)) errno = EISDIR;
            std::ifstream f;
            if (errno == 0) f.open(p, std::ios::binary);
            std::string content;
            if (f.is_open() && f) {
                std::ostringstream ss;
                ss << f.rdbuf();
                content = ss.str();
            }
            if ((!f.is_open() || !f || f.bad()) && diags_->placeholders) {
                diags_->unresolved.push_back(key_path(key));
                out += "unresolved-secret-placeholder";
                continue;
            }
            if (!f.is_open() || !f || f.bad()) {
                int err = errno;
                error(key, "cannot read file '" + p.lexically_normal().string() +
                               "' for ${file:" + std::string(ref.substr(5)) + "}" +
                               (err ? std::string(": ") + std::strerror(err) : std::string()));
                ok = false;
                continue;
            }
            if (!content.empty() && content.back() == '\n') {
                content.pop_back();
                if (!content.empty() && content.back() == '\r') content.pop_back();
            }
            out += content;
            continue;
        }
        if (!valid_env_name(ref)) {
            error(key, "invalid variable name '" + std::string(ref) +
                           "' in '${...}' (write '$${' for a literal '${')");
            ok = false;
            continue;
        }
        const char* value = std::getenv(std::string(ref).c_str());
        if (value == nullptr && diags_->placeholders) {
            diags_->unresolved.push_back(key_path(key));
            out += "unresolved-secret-placeholder";
            continue;
        }
        if (value == nullptr) {
            error(key, "environment variable '" + std::string(ref) + "' is not set");
            ok = false;
            continue;
        }
        out += value;
    }
    if (!ok) return std::nullopt;
    return out;
}

std::optional<std::string> ConfigView::string(std::string_view key, bool required) {
    accept(key);
    auto [k, v] = find_entry(node_, key);
    if (!k.IsDefined() || !v.IsDefined() || v.IsNull()) {
        if (required) error(key, "required key is missing");
        return std::nullopt;
    }
    if (!v.IsScalar()) {
        error(key, "expected a string");
        return std::nullopt;
    }
    return expand(v, key);
}

std::optional<bool> ConfigView::boolean(std::string_view key, bool required) {
    auto s = string(key, required);
    if (!s) return std::nullopt;
    std::string lower = *s;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "false" || lower == "no" || lower == "off") return false;
    error(key, "expected true or false, got " + quoted_raw(find_entry(node_, key).second));
    return std::nullopt;
}

std::optional<int64_t> ConfigView::integer(std::string_view key, int64_t min, int64_t max,
                                           bool required) {
    auto s = string(key, required);
    if (!s) return std::nullopt;
    int64_t n = 0;
    if (!parse_int64(*s, n)) {
        error(key, "expected a whole number, got " + quoted_raw(find_entry(node_, key).second));
        return std::nullopt;
    }
    if (n < min || n > max) {
        error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                       ", got " + std::to_string(n));
        return std::nullopt;
    }
    return n;
}

std::optional<double> ConfigView::number(std::string_view key, double min, double max,
                                         bool required) {
    auto s = string(key, required);
    if (!s) return std::nullopt;
    double d = 0;
    if (!parse_double(*s, d)) {
        error(key, "expected a number, got " + quoted_raw(find_entry(node_, key).second));
        return std::nullopt;
    }
    if (d < min || d > max) {
        error(key, "must be between " + format_double(min) + " and " + format_double(max) +
                       ", got " + format_double(d));
        return std::nullopt;
    }
    return d;
}

std::optional<std::chrono::milliseconds> ConfigView::duration(std::string_view key, bool required) {
    auto s = string(key, required);
    if (!s) return std::nullopt;
    auto d = parse_duration(*s);
    if (!d) {
        std::string msg = (!s->empty() && s->front() == '-')
                              ? "a duration cannot be negative"
                              : "expected a duration: a whole number and a unit (500ms, 2s, "
                                "10m, 24h, 7d)";
        error(key, msg + ", got " + quoted_raw(find_entry(node_, key).second));
        return std::nullopt;
    }
    return d;
}

std::optional<std::vector<std::string>> ConfigView::string_list(std::string_view key,
                                                                bool required) {
    accept(key);
    auto [k, v] = find_entry(node_, key);
    if (!k.IsDefined() || !v.IsDefined() || v.IsNull()) {
        if (required) error(key, "required key is missing");
        return std::nullopt;
    }
    std::vector<std::string> out;
    if (v.IsScalar()) {  // a single value stands for a list of one
        auto s = expand(v, key);
        if (!s) return std::nullopt;
        out.push_back(std::move(*s));
        return out;
    }
    if (!v.IsSequence()) {
        error(key, "expected a list of strings");
        return std::nullopt;
    }
    bool ok = true;
    for (std::size_t i = 0; i < v.size(); ++i) {
        YAML::Node item = v[i];
        std::string item_path = key_path(key) + "[" + std::to_string(i) + "]";
        if (!item.IsScalar()) {
            diags_->add(file_, line_of_node(item), item_path, "expected a string");
            ok = false;
            continue;
        }
        auto s = expand(item, key);
        if (!s) {
            ok = false;
            continue;
        }
        out.push_back(std::move(*s));
    }
    if (!ok) return std::nullopt;
    return out;
}

ConfigView ConfigView::child(std::string_view key, bool required) {
    accept(key);
    auto [k, v] = find_entry(node_, key);
    if (!k.IsDefined() || !v.IsDefined() || v.IsNull()) {
        if (required) error(key, "required section is missing");
        return ConfigView(YAML::Node(), key_path(key), file_, diags_);
    }
    if (!v.IsMap()) {
        error(key, "expected a mapping (key: value pairs)");
        return ConfigView(YAML::Node(), key_path(key), file_, diags_);
    }
    return ConfigView(v, key_path(key), file_, diags_);
}

std::vector<ConfigView> ConfigView::children(std::string_view key, bool required) {
    accept(key);
    std::vector<ConfigView> out;
    auto [k, v] = find_entry(node_, key);
    if (!k.IsDefined() || !v.IsDefined() || v.IsNull()) {
        if (required) error(key, "required list is missing");
        return out;
    }
    if (!v.IsSequence()) {
        error(key, "expected a list");
        return out;
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
        YAML::Node item = v[i];
        std::string item_path = key_path(key) + "[" + std::to_string(i) + "]";
        if (!item.IsMap()) {
            diags_->add(file_, line_of_node(item), item_path,
                        "expected a mapping (key: value pairs)");
            continue;
        }
        out.emplace_back(item, item_path, file_, diags_);
    }
    return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> ConfigView::string_map(
    std::string_view key, bool required) {
    ConfigView map = child(key, required);
    if (!map.node().IsMap()) return std::nullopt;
    std::vector<std::pair<std::string, std::string>> out;
    bool ok = true;
    for (auto it = map.node_.begin(); it != map.node_.end(); ++it) {
        if (!it->first.IsScalar()) {
            diags_->add(file_, line_of_node(it->first), map.path_, "expected a string key");
            ok = false;
            continue;
        }
        const std::string name = it->first.Scalar();
        if (!it->second.IsScalar()) {
            map.error(name, "expected a string");
            ok = false;
            continue;
        }
        auto value = map.expand(it->second, name);
        if (!value) {
            ok = false;
            continue;
        }
        out.emplace_back(name, std::move(*value));
    }
    if (!ok) return std::nullopt;
    return out;
}

void ConfigView::finish() {
    if (!node_.IsMap()) return;
    std::set<std::string, std::less<>> seen;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
        int l = line_of_node(it->first);
        if (!it->first.IsScalar()) {
            diags_->add(file_, l, path_, "a key must be a plain string");
            continue;
        }
        const std::string& name = it->first.Scalar();
        if (!seen.insert(name).second) {
            diags_->add(file_, l, key_path(name), "duplicate key '" + name + "'");
            continue;
        }
        if (known_.count(name)) continue;
        std::string msg = "unknown key '" + name + "'";
        std::string best;
        std::size_t best_d = std::numeric_limits<std::size_t>::max();
        for (const auto& k : known_) {
            std::size_t d = edit_distance(name, k);
            if (d < best_d) {
                best_d = d;
                best = k;
            }
        }
        // Close enough to be a typo: one edit for very short keys, up to three for long ones.
        std::size_t limit =
            name.size() <= 3 ? 1
                             : std::max<std::size_t>(2, std::min<std::size_t>(3, name.size() / 3));
        if (!best.empty() && best_d <= limit) msg += " (did you mean '" + best + "'?)";
        diags_->add(file_, l, key_path(name), std::move(msg));
    }
}

}  // namespace tinbao
