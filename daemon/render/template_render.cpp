// The template renderer: walks a compiled tree (template_compiled.hpp) against the render
// context. Text is copied, `if` picks the first branch whose path is truthy, and an expression
// looks its path up and runs the value through its filters (template_filters.hpp). Pure: no
// I/O, no locks, nothing mutable shared.
#include "daemon/render/template_compiled.hpp"
#include "daemon/render/template_filters.hpp"

#include "daemon/render/sms_text.hpp"
#include "common/redact.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>

namespace tinbao::tpl {
namespace {

namespace json = boost::json;
using namespace detail;

const json::value* lookup(const json::value& ctx, const std::vector<std::string>& path) {
    const json::value* v = &ctx;
    for (const auto& seg : path) {
        const json::object* o = v->if_object();
        if (!o) return nullptr;
        auto it = o->find(seg);
        if (it == o->end()) return nullptr;
        v = &it->value();
    }
    if (v->is_null()) return nullptr;
    return v;
}

bool truthy(const json::value* v) {
    if (!v) return false;
    if (const bool* b = v->if_bool()) return *b;
    if (const json::string* s = v->if_string()) return !s->empty();
    if (const std::int64_t* i = v->if_int64()) return *i != 0;
    if (const std::uint64_t* u = v->if_uint64()) return *u != 0;
    if (const double* d = v->if_double()) return *d != 0.0;
    return true;
}

std::optional<std::string> stringify(const json::value& v) {
    switch (v.kind()) {
        case json::kind::string: return std::string(v.get_string());
        case json::kind::bool_: return std::string(v.get_bool() ? "true" : "false");
        case json::kind::int64: return std::to_string(v.get_int64());
        case json::kind::uint64: return std::to_string(v.get_uint64());
        case json::kind::double_: {
            double d = v.get_double();
            if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 1e15)
                return std::to_string(static_cast<long long>(d));
            char buf[64];
            auto r = std::to_chars(buf, buf + sizeof buf, d);
            return std::string(buf, r.ptr);
        }
        default: return std::nullopt;
    }
}

// The value flowing through a filter chain: the context's own value until a filter makes a
// text of it (so a plain `{{ path }}` copies nothing but the final text), then that text.
struct Current {
    const json::value* original = nullptr;
    std::string text;
    bool is_text = false;
    bool missing() const { return !original && !is_text; }
    void set(std::string s) {
        text = std::move(s);
        is_text = true;
        original = nullptr;
    }
};

}  // namespace

std::optional<Error> Template::Impl::render(const Nodes& list, const json::value& ctx,
                                            const RenderOptions& opts, std::string& out) const {
    for (const Node& n : list) {
        if (const auto* t = std::get_if<TextNode>(&n.v)) {
            out += t->text;
        } else if (const auto* e = std::get_if<ExprNode>(&n.v)) {
            if (auto err = expr(*e, ctx, opts, out)) return err;
        } else {
            const auto& node = std::get<IfNode>(n.v);
            for (const Branch& b : node.branches) {
                if (b.path.empty() || truthy(lookup(ctx, b.path))) {
                    if (auto err = render(b.body, ctx, opts, out)) return err;
                    break;
                }
            }
        }
    }
    return std::nullopt;
}

Error Template::Impl::error_at(const ExprNode& e, std::string message) const {
    return Error{file, e.pos.line, e.pos.column, std::move(message)};
}

std::optional<Error> Template::Impl::expr(const ExprNode& e, const json::value& ctx,
                                          const RenderOptions& opts, std::string& out) const {
    Current v;
    v.original = lookup(ctx, e.path);  // null: missing (absent or null)
    std::string scratch;
    // The text of the current value, without a copy when it is already a text.
    auto text_of = [&](std::string_view& sv) -> std::optional<Error> {
        if (v.is_text) {
            sv = v.text;
            return std::nullopt;
        }
        if (const json::string* js = v.original->if_string()) {
            sv = std::string_view(js->data(), js->size());
            return std::nullopt;
        }
        auto str = stringify(*v.original);
        if (!str) return error_at(e, "'" + e.path_text + "' is not a text or number value");
        scratch = std::move(*str);
        sv = scratch;
        return std::nullopt;
    };
    for (const Filter& f : e.filters) {
        if (f.kind == FilterKind::default_) {
            bool empty_text = v.is_text ? v.text.empty()
                              : v.original && v.original->is_string()
                                  ? v.original->get_string().empty()
                                  : false;
            if (v.missing() || empty_text) v.set(f.text);
            continue;
        }
        if (v.missing()) continue;  // stays missing until a default
        std::string_view sv;
        switch (f.kind) {
            case FilterKind::upper:
            case FilterKind::lower:
                if (auto err = text_of(sv)) return err;
                v.set(map_case(sv, f.kind == FilterKind::upper));
                break;
            case FilterKind::unaccent:
                if (auto err = text_of(sv)) return err;
                v.set(sms::unaccent(sv));
                break;
            case FilterKind::truncate:
                if (auto err = text_of(sv)) return err;
                v.set(truncate_chars(sv, f.count));
                break;
            case FilterKind::mask_phone:
                if (auto err = text_of(sv)) return err;
                v.set(tinbao::mask_phone(sv));
                break;
            case FilterKind::date: {
                std::optional<long long> t;
                if (v.is_text) {
                    t = parse_rfc3339(v.text);
                } else if (const json::string* js = v.original->if_string()) {
                    t = parse_rfc3339(std::string_view(js->data(), js->size()));
                }
                if (!t)
                    return error_at(e, "'" + e.path_text + "' is not an RFC 3339 time");
                v.set(format_vietnam_time(*t, f.text));
                break;
            }
            case FilterKind::vnd: {
                auto n = v.is_text ? integer_of_text(v.text) : as_integer(*v.original);
                if (!n)
                    return error_at(e, "'" + e.path_text + "' is not an integer amount");
                v.set(format_vnd(*n));
                break;
            }
            case FilterKind::default_: break;
        }
    }
    if (v.missing())
        return error_at(e, "no value for '" + e.path_text +
                               "' (use | default(\"...\") when it is optional)");
    std::string_view sv;
    if (auto err = text_of(sv)) return err;
    if (opts.html_escape)
        append_escaped(out, sv);
    else
        out += sv;
    return std::nullopt;
}

Template::Template() : impl_(std::make_shared<Impl>()) {}
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;
Template::Template(const Template&) = default;
Template& Template::operator=(const Template&) = default;

std::variant<Template, Error> Template::compile(std::string_view source, std::string file,
                                                int line, int column) {
    return Impl::compile(source, std::move(file), line, column, 0);
}

std::variant<std::string, Error> Template::render(const boost::json::value& ctx,
                                                  const RenderOptions& opts) const {
    std::string out;
    out.reserve(impl_->source.size() + impl_->source.size() / 2);
    if (auto err = impl_->render(impl_->nodes, ctx, opts, out)) return std::move(*err);
    return out;
}

const std::string& Template::source() const { return impl_->source; }
const std::string& Template::file() const { return impl_->file; }

}  // namespace tinbao::tpl
