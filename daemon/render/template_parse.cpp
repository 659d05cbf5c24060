// The template parser: source text -> the tree of template_compiled.hpp. A scan splits the
// text into literal text, `{{ … }}` expressions and `{% … %}` tags; a recursive descent then
// nests the if/elif/else/endif tags and reads each expression's path, filters and arguments.
// Every syntax error names the line and column (in code points) in the template's file.
#include "daemon/render/template_compiled.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace tinbao::tpl {

std::string Error::str() const {
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace detail {
namespace {

bool is_ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

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

namespace {

class Compiler {
public:
    Compiler(std::string_view src, int line, int column, int indent)
        : src_(src), line0_(line), col0_(column), indent_(indent) {
        cur_line_ = line;
        cur_col_ = column;
    }

    Nodes run() {
        tokenize();
        std::size_t i = 0;
        Nodes nodes = sequence(i, 0);
        return nodes;
    }

private:
    enum class TokKind { text, expr, tag };
    struct Token {
        TokKind kind;
        std::size_t begin;  // offset of the content (after `{{`/`{%` for expr and tag)
        std::size_t end;
        std::size_t open;   // offset of `{{`/`{%`
    };

    // Line and column (in code points) of byte `offset`.
    Pos pos_at(std::size_t offset) {
        if (offset < cur_off_) {
            cur_off_ = 0;
            cur_line_ = line0_;
            cur_col_ = col0_;
        }
        for (; cur_off_ < offset && cur_off_ < src_.size(); ++cur_off_) {
            unsigned char c = static_cast<unsigned char>(src_[cur_off_]);
            if (c == '\n') {
                ++cur_line_;
                cur_col_ = 1 + indent_;
            } else if ((c & 0xC0) != 0x80) {
                ++cur_col_;
            }
        }
        return Pos{cur_line_, cur_col_};
    }

    [[noreturn]] void fail(std::size_t offset, std::string message) {
        throw SyntaxError{pos_at(offset), std::move(message)};
    }

    void tokenize() {
        std::size_t i = 0;
        while (i < src_.size()) {
            std::size_t a = src_.find("{{", i);
            std::size_t b = src_.find("{%", i);
            std::size_t open = std::min(a, b);
            if (open == std::string_view::npos) {
                tokens_.push_back({TokKind::text, i, src_.size(), i});
                break;
            }
            if (open > i) tokens_.push_back({TokKind::text, i, open, i});
            bool expr = open == a;
            std::string_view close = expr ? "}}" : "%}";
            std::size_t end = find_close(open + 2, close);
            if (end == std::string_view::npos)
                fail(open, expr ? "unclosed '{{' (no matching '}}')"
                                : "unclosed '{%' (no matching '%}')");
            tokens_.push_back({expr ? TokKind::expr : TokKind::tag, open + 2, end, open});
            i = end + 2;
        }
    }

    // The offset of `close` after `from`, skipping over quoted strings.
    std::size_t find_close(std::size_t from, std::string_view close) const {
        char quote = 0;
        for (std::size_t i = from; i < src_.size(); ++i) {
            char c = src_[i];
            if (quote) {
                if (c == '\\') ++i;
                else if (c == quote) quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (src_.compare(i, close.size(), close) == 0) {
                return i;
            }
        }
        // An unbalanced quote: close at the first marker so the string error is reported.
        return src_.find(close, from);
    }

    Nodes sequence(std::size_t& i, int depth) {
        Nodes nodes;
        while (i < tokens_.size()) {
            const Token& t = tokens_[i];
            if (t.kind == TokKind::text) {
                nodes.push_back(Node{TextNode{std::string(src_.substr(t.begin, t.end - t.begin))}});
                ++i;
            } else if (t.kind == TokKind::expr) {
                nodes.push_back(Node{expression(t)});
                ++i;
            } else {
                Tag tag = parse_tag(t);
                if (tag.keyword == "if") {
                    ++i;
                    nodes.push_back(Node{if_block(i, depth, t, std::move(tag))});
                } else if (depth == 0) {
                    fail(t.open, "'" + tag.keyword + "' without a matching 'if'");
                } else {
                    return nodes;  // elif / else / endif: the caller's
                }
            }
        }
        return nodes;
    }

    struct Tag {
        std::string keyword;
        std::vector<std::string> path;
    };

    IfNode if_block(std::size_t& i, int depth, const Token& if_token, Tag if_tag) {
        IfNode node;
        Branch branch{std::move(if_tag.path), {}, pos_at(if_token.open)};
        bool else_seen = false;
        for (;;) {
            branch.body = sequence(i, depth + 1);
            node.branches.push_back(std::move(branch));
            if (i >= tokens_.size()) fail(if_token.open, "'if' without a matching 'endif'");
            const Token& t = tokens_[i];
            Tag tag = parse_tag(t);
            ++i;
            if (tag.keyword == "endif") break;
            if (else_seen) fail(t.open, "'" + tag.keyword + "' after 'else'");
            if (tag.keyword == "else") else_seen = true;
            branch = Branch{std::move(tag.path), {}, pos_at(t.open)};
        }
        return node;
    }

    void skip_space(std::size_t& p, std::size_t end) const {
        while (p < end && is_space(src_[p])) ++p;
    }

    std::string ident(std::size_t& p, std::size_t end) const {
        std::size_t s = p;
        while (p < end && is_ident_char(src_[p])) ++p;
        return std::string(src_.substr(s, p - s));
    }

    // A dotted path at `p`.
    std::vector<std::string> path(std::size_t& p, std::size_t end, std::string* text) {
        std::size_t start = p;
        std::vector<std::string> segs;
        for (;;) {
            std::size_t seg_at = p;
            std::string seg = ident(p, end);
            if (seg.empty())
                fail(seg_at, segs.empty() ? "expected a value path" : "empty segment in path");
            segs.push_back(std::move(seg));
            if (p < end && src_[p] == '.') {
                ++p;
                continue;
            }
            break;
        }
        if (text) *text = std::string(src_.substr(start, p - start));
        return segs;
    }

    Tag parse_tag(const Token& t) {
        std::size_t p = t.begin;
        skip_space(p, t.end);
        std::size_t kw_at = p;
        Tag tag;
        tag.keyword = ident(p, t.end);
        if (tag.keyword != "if" && tag.keyword != "elif" && tag.keyword != "else" &&
            tag.keyword != "endif")
            fail(kw_at, tag.keyword.empty() ? "expected if, elif, else or endif"
                                            : "unknown tag '" + tag.keyword + "'");
        skip_space(p, t.end);
        if (tag.keyword == "if" || tag.keyword == "elif") {
            if (p >= t.end) fail(p, "'" + tag.keyword + "' needs a value path");
            tag.path = path(p, t.end, nullptr);
            skip_space(p, t.end);
        }
        if (p < t.end) fail(p, "unexpected text in '" + tag.keyword + "' tag");
        return tag;
    }

    struct Arg {
        bool is_string = false;
        std::string text;
        long long number = 0;
        std::size_t at = 0;
    };

    Arg argument(std::size_t& p, std::size_t end) {
        Arg a;
        a.at = p;
        if (p < end && (src_[p] == '"' || src_[p] == '\'')) {
            char quote = src_[p++];
            a.is_string = true;
            for (;;) {
                if (p >= end) fail(a.at, "unterminated string");
                char c = src_[p++];
                if (c == quote) break;
                if (c == '\\' && p < end) {
                    char e = src_[p++];
                    a.text.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
                } else {
                    a.text.push_back(c);
                }
            }
            return a;
        }
        std::size_t s = p;
        if (p < end && src_[p] == '-') ++p;
        while (p < end && src_[p] >= '0' && src_[p] <= '9') ++p;
        if (p == s || (p == s + 1 && src_[s] == '-'))
            fail(s, "expected a string or a number");
        auto r = std::from_chars(src_.data() + s, src_.data() + p, a.number);
        if (r.ec != std::errc()) fail(s, "number out of range");
        return a;
    }

    ExprNode expression(const Token& t) {
        ExprNode e;
        e.pos = pos_at(t.open);
        std::size_t p = t.begin;
        skip_space(p, t.end);
        if (p >= t.end) fail(t.open, "empty expression");
        e.path = path(p, t.end, &e.path_text);
        for (;;) {
            skip_space(p, t.end);
            if (p >= t.end) break;
            if (src_[p] != '|') fail(p, "expected '|' or '}}'");
            ++p;
            skip_space(p, t.end);
            std::size_t name_at = p;
            std::string name = ident(p, t.end);
            if (name.empty()) fail(name_at, "expected a filter name after '|'");
            std::vector<Arg> args;
            skip_space(p, t.end);
            if (p < t.end && src_[p] == '(') {
                ++p;
                skip_space(p, t.end);
                if (p < t.end && src_[p] == ')') {
                    ++p;
                } else {
                    for (;;) {
                        args.push_back(argument(p, t.end));
                        skip_space(p, t.end);
                        if (p < t.end && src_[p] == ',') {
                            ++p;
                            skip_space(p, t.end);
                            continue;
                        }
                        if (p < t.end && src_[p] == ')') {
                            ++p;
                            break;
                        }
                        fail(p, "expected ',' or ')' in the arguments of '" + name + "'");
                    }
                }
            }
            e.filters.push_back(make_filter(name, name_at, args));
        }
        return e;
    }

    Filter make_filter(const std::string& name, std::size_t at, const std::vector<Arg>& args) {
        struct Spec {
            std::string_view name;
            FilterKind kind;
            int args;       // 0 or 1
            bool string;    // the argument is a string (else an integer)
        };
        static constexpr std::array<Spec, 8> kSpecs = {{
            {"upper", FilterKind::upper, 0, false},
            {"lower", FilterKind::lower, 0, false},
            {"unaccent", FilterKind::unaccent, 0, false},
            {"default", FilterKind::default_, 1, true},
            {"date", FilterKind::date, 1, true},
            {"vnd", FilterKind::vnd, 0, false},
            {"truncate", FilterKind::truncate, 1, false},
            {"mask_phone", FilterKind::mask_phone, 0, false},
        }};
        auto it = std::find_if(kSpecs.begin(), kSpecs.end(),
                               [&](const Spec& s) { return s.name == name; });
        if (it == kSpecs.end()) {
            std::string known, close;
            std::size_t best = name.size();
            for (const Spec& s : kSpecs) {
                known += (known.empty() ? "" : ", ") + std::string(s.name);
                std::size_t d = edit_distance(name, s.name);
                if (d < best) {
                    best = d;
                    close = s.name;
                }
            }
            // A typo is an edit or two away; anything further gets the list.
            if (!close.empty() &&
                best <= std::max<std::size_t>(1, std::min<std::size_t>(2, name.size() / 3)))
                fail(at, "unknown filter '" + name + "' (did you mean '" + close + "'?)");
            fail(at, "unknown filter '" + name + "' (filters: " + known + ")");
        }
        if (static_cast<int>(args.size()) != it->args)
            fail(at, "filter '" + name + "' takes " + std::to_string(it->args) +
                         " argument" + (it->args == 1 ? "" : "s") + ", got " +
                         std::to_string(args.size()));
        Filter f{it->kind, {}, 0};
        if (it->args == 1) {
            const Arg& a = args.front();
            if (a.is_string != it->string)
                fail(a.at, "filter '" + name + "' takes " +
                               (it->string ? "a string argument" : "an integer argument"));
            if (it->string) {
                f.text = a.text;
            } else {
                if (a.number < 0) fail(a.at, "filter '" + name + "' needs a number >= 0");
                f.count = static_cast<std::size_t>(a.number);
            }
        }
        return f;
    }

    std::string_view src_;
    int line0_;
    int col0_;
    int indent_;
    std::vector<Token> tokens_;
    std::size_t cur_off_ = 0;
    int cur_line_ = 1;
    int cur_col_ = 1;
};

}  // namespace

Nodes parse(std::string_view src, int line, int column, int indent) {
    return Compiler(src, line, column, indent).run();
}

}  // namespace detail

std::variant<Template, Error> Template::Impl::compile(std::string_view source, std::string file,
                                                      int line, int column, int indent) {
    auto impl = std::make_shared<Impl>();
    impl->source = std::string(source);
    impl->file = file;
    try {
        impl->nodes = detail::parse(impl->source, line, column, indent);
    } catch (detail::SyntaxError& e) {
        return Error{std::move(file), e.pos.line, e.pos.column, std::move(e.message)};
    }
    Template t;
    t.impl_ = std::move(impl);
    return t;
}

}  // namespace tinbao::tpl
