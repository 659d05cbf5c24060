// The values a template names, and their check against the event's fields: a typo in a path
// (`dossier.ma_ho_so`, `applicant.nmae`) is found when the templates are checked, not when the
// first citizen's message fails with template_error.
#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "daemon/model/event_fields.hpp"
#include "daemon/render/template_compiled.hpp"

namespace tinbao::tpl {
namespace {

using namespace detail;

void collect(const Nodes& nodes, std::vector<FieldRef>& out) {
    for (const Node& n : nodes) {
        if (const auto* e = std::get_if<ExprNode>(&n.v)) {
            out.push_back(FieldRef{e->path_text, e->pos.line, e->pos.column, false});
        } else if (const auto* i = std::get_if<IfNode>(&n.v)) {
            for (const Branch& b : i->branches) {
                if (!b.path.empty()) {
                    std::string text;
                    for (const auto& seg : b.path) text += (text.empty() ? "" : ".") + seg;
                    out.push_back(FieldRef{std::move(text), b.pos.line, b.pos.column, true});
                }
                collect(b.body, out);
            }
        }
    }
}

std::string squash(std::string_view s) {
    std::string out;
    for (char c : s)
        if (c != '_' && c != '-')
            out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return out;
}

std::string_view last_segment(std::string_view path) {
    auto dot = path.rfind('.');
    return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

std::string_view parent_of(std::string_view path) {
    auto dot = path.rfind('.');
    return dot == std::string_view::npos ? std::string_view() : path.substr(0, dot);
}

// The known path the author most likely meant, or "".
std::string suggest(const std::string& path, const std::vector<std::string>& known) {
    // A name for the field in Vietnamese or English (`ma_ho_so`, `so_dien_thoai`).
    std::string key = squash(last_segment(path));
    for (const auto& [alias, target] : event_fields::kAliases)
        if (alias == key) return std::string(target);
    // A typo: the closest known path, an edit or a few away (by the length of what was typed).
    std::string best;
    std::size_t best_d = std::string::npos;
    for (const auto& k : known) {
        std::size_t d = edit_distance(path, k);
        // The same last segment under another parent ("agency.name" for "dossier.agency.nam").
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    std::size_t limit =
        std::max<std::size_t>(2, std::min<std::size_t>(3, last_segment(path).size() / 3));
    if (best_d <= limit) return best;
    // A field put under the wrong parent: `dossier.name` for `applicant.name`.
    for (const auto& k : known)
        if (last_segment(k) == last_segment(path) && parent_of(k) != parent_of(path)) return k;
    return {};
}

}  // namespace

std::vector<FieldRef> Template::fields() const {
    std::vector<FieldRef> out;
    collect(impl_->nodes, out);
    return out;
}

std::vector<Error> check_fields(const StatusTemplates& st, const std::vector<std::string>& extra) {
    using event_fields::Kind;
    std::vector<std::string> known;
    for (const auto& f : event_fields::kFields) known.emplace_back(f.path);
    for (const auto& e : extra)
        if (std::find(known.begin(), known.end(), e) == known.end()) known.push_back(e);
    auto kind_of = [&](const std::string& path) -> std::optional<Kind> {
        for (const auto& f : event_fields::kFields)
            if (f.path == path) return f.kind;
        if (std::find(extra.begin(), extra.end(), path) != extra.end()) return Kind::text;
        // Below a free-form field (data.*): anything.
        for (std::string_view p = parent_of(path); !p.empty(); p = parent_of(p))
            for (const auto& f : event_fields::kFields)
                if (f.path == p && f.kind == Kind::any) return Kind::any;
        return std::nullopt;
    };
    // Every field an extra one is nested in is an object.
    auto is_extra_parent = [&](const std::string& path) {
        return std::any_of(extra.begin(), extra.end(), [&](const std::string& e) {
            return e.size() > path.size() && e.compare(0, path.size(), path) == 0 &&
                   e[path.size()] == '.';
        });
    };

    std::vector<Error> out;
    auto check = [&](const Template& t) {
        for (const FieldRef& f : t.fields()) {
            auto kind = kind_of(f.path);
            if (!kind && is_extra_parent(f.path)) kind = Kind::object;
            std::string message;
            if (!kind) {
                message = "'" + f.path + "' is not a field of the event";
                std::string s = suggest(f.path, known);
                if (!s.empty())
                    message += " (did you mean '" + s + "'?)";
                else
                    message +=
                        " (the event's fields are in docs/api.md; free-form values go in "
                        "data.*, or add a sample event that carries it)";
            } else if (!f.tested && (*kind == Kind::object || *kind == Kind::list)) {
                message = "'" + f.path + "' is " +
                          (*kind == Kind::object ? "an object" : "a list") +
                          " and cannot be inserted";
                std::string fields;
                for (const auto& k : known)
                    if (parent_of(k) == f.path) fields += (fields.empty() ? "" : ", ") + k;
                if (!fields.empty()) message += " (its fields: " + fields + ")";
            } else {
                continue;
            }
            out.push_back(Error{t.file(), f.line, f.column, std::move(message)});
        }
    };
    if (st.sms) check(*st.sms);
    if (st.email) {
        check(st.email->subject);
        check(st.email->text);
        if (st.email->html) check(*st.email->html);
    }
    if (st.zalo)
        for (const auto& [name, t] : st.zalo->params) check(t);
    return out;
}

}  // namespace tinbao::tpl
