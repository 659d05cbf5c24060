#include "daemon/render/template.hpp"
#include "daemon/render/unicode.hpp"

#include "daemon/render/sms_text.hpp"
#include "providers/redact.hpp"

#include <boost/json.hpp>
#include <utf8proc.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tinbao::tpl {

std::string Error::str() const {
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

namespace json = boost::json;

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

struct Pos {
    int line = 1;
    int column = 1;
};

enum class FilterKind { upper, lower, unaccent, default_, date, vnd, truncate, mask_phone };

struct Filter {
    FilterKind kind;
    std::string text;      // default(...) and date(...)
    std::size_t count = 0;  // truncate(...)
};

struct Node;
using Nodes = std::vector<Node>;

struct TextNode {
    std::string text;
};

struct ExprNode {
    std::vector<std::string> path;
    std::string path_text;
    std::vector<Filter> filters;
    Pos pos;
};

struct Branch {
    std::vector<std::string> path;  // empty for `else`
    Nodes body;
};

struct IfNode {
    std::vector<Branch> branches;
};

struct Node {
    std::variant<TextNode, ExprNode, IfNode> v;
};

// Thrown inside the compiler only; compile() turns it into an Error value.
struct SyntaxError {
    Pos pos;
    std::string message;
};

bool is_ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

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
        Branch branch{std::move(if_tag.path), {}};
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
            branch = Branch{std::move(tag.path), {}};
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
        if (it == kSpecs.end()) fail(at, "unknown filter '" + name + "'");
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

// ---- rendering helpers ----

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

std::string map_case(std::string_view s, bool upper) {
    std::string out;
    out.reserve(s.size());
    text::for_each_codepoint(s, [&](int32_t cp, std::string_view bytes) {
        if (cp < 0) {
            out.append(bytes);  // kept as it came
            return;
        }
        utf8proc_int32_t m = upper ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
        utf8proc_uint8_t buf[4];
        utf8proc_ssize_t k = utf8proc_encode_char(m, buf);
        out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(k));
    });
    return out;
}

// The first `n` code points; a cut that ends on spaces drops them, so "Ho Van " never leaves
// a double space before the text that follows.
std::string truncate_chars(std::string_view s, std::size_t n) {
    std::size_t chars = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            if (chars == n) {
                std::string out(s.substr(0, i));
                while (!out.empty() && out.back() == ' ') out.pop_back();
                return out;
            }
            ++chars;
        }
    }
    return std::string(s);
}

long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<long long>(doe) - 719468;
}

void civil_from_days(long long z, long long& y, unsigned& m, unsigned& d) {
    z += 719468;
    const long long era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<long long>(yoe) + era * 400 + (m <= 2);
}

constexpr long long kVietnamOffset = 7 * 3600;  // Asia/Ho_Chi_Minh: UTC+7, no DST since 1975

bool read_digits(std::string_view s, std::size_t& p, std::size_t n, int& out) {
    if (p + n > s.size()) return false;
    out = 0;
    for (std::size_t i = 0; i < n; ++i) {
        char c = s[p + i];
        if (c < '0' || c > '9') return false;
        out = out * 10 + (c - '0');
    }
    p += n;
    return true;
}

// RFC 3339 date-time (or a bare date, taken as midnight in Vietnam) -> Unix seconds.
std::optional<long long> parse_rfc3339(std::string_view s) {
    std::size_t p = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (!read_digits(s, p, 4, y) || p >= s.size() || s[p++] != '-' ||
        !read_digits(s, p, 2, mo) || p >= s.size() || s[p++] != '-' ||
        !read_digits(s, p, 2, d))
        return std::nullopt;
    static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1]) return std::nullopt;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return std::nullopt;
    long long days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    if (p == s.size()) return days * 86400 - kVietnamOffset;
    char t = s[p++];
    if (t != 'T' && t != 't' && t != ' ') return std::nullopt;
    if (!read_digits(s, p, 2, h) || p >= s.size() || s[p++] != ':' ||
        !read_digits(s, p, 2, mi) || p >= s.size() || s[p++] != ':' ||
        !read_digits(s, p, 2, sec))
        return std::nullopt;
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
    if (p < s.size() && s[p] == '.') {
        ++p;
        std::size_t f = p;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9') ++p;
        if (p == f) return std::nullopt;
    }
    if (p >= s.size()) return std::nullopt;
    long long offset = 0;
    char z = s[p++];
    if (z == 'Z' || z == 'z') {
        offset = 0;
    } else if (z == '+' || z == '-') {
        int oh, om;
        if (!read_digits(s, p, 2, oh) || p >= s.size() || s[p++] != ':' ||
            !read_digits(s, p, 2, om) || oh > 23 || om > 59)
            return std::nullopt;
        offset = (oh * 3600LL + om * 60LL) * (z == '+' ? 1 : -1);
    } else {
        return std::nullopt;
    }
    if (p != s.size()) return std::nullopt;
    return days * 86400 + h * 3600LL + mi * 60LL + std::min(sec, 59) - offset;
}

std::string format_vietnam_time(long long utc, const std::string& fmt) {
    long long local = utc + kVietnamOffset;
    long long days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
    long long secs = local - days * 86400;
    long long y;
    unsigned m, d;
    civil_from_days(days, y, m, d);
    std::tm tm{};
    tm.tm_year = static_cast<int>(y - 1900);
    tm.tm_mon = static_cast<int>(m - 1);
    tm.tm_mday = static_cast<int>(d);
    tm.tm_hour = static_cast<int>(secs / 3600);
    tm.tm_min = static_cast<int>(secs % 3600 / 60);
    tm.tm_sec = static_cast<int>(secs % 60);
    tm.tm_wday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
    tm.tm_yday = static_cast<int>(days - days_from_civil(y, 1, 1));
    tm.tm_isdst = 0;
    // The zone is fixed, so %z and %Z are expanded here rather than by the C library.
    std::string f;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] == '%' && i + 1 < fmt.size()) {
            char c = fmt[++i];
            if (c == 'z') f += "+0700";
            else if (c == 'Z') f += "+07";
            else f += {'%', c};
        } else {
            f.push_back(fmt[i]);
        }
    }
    if (f.empty()) return {};
    for (std::size_t size = 256; size <= 65536; size *= 4) {
        std::string buf(size, '\0');
        std::size_t n = std::strftime(buf.data(), buf.size(), f.c_str(), &tm);
        if (n > 0) {
            buf.resize(n);
            return buf;
        }
    }
    return {};
}

std::optional<long long> integer_of_text(std::string_view s) {
    long long n = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), n);
    if (r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty()) return n;
    return std::nullopt;
}

std::optional<long long> as_integer(const json::value& v) {
    if (const std::int64_t* i = v.if_int64()) return *i;
    if (const std::uint64_t* u = v.if_uint64())
        return *u <= 9'000'000'000'000'000'000ULL ? std::optional<long long>(*u) : std::nullopt;
    if (const double* d = v.if_double())
        if (std::isfinite(*d) && std::trunc(*d) == *d && std::fabs(*d) < 9e18)
            return static_cast<long long>(*d);
    if (const json::string* s = v.if_string())
        return integer_of_text(std::string_view(s->data(), s->size()));
    return std::nullopt;
}

std::string format_vnd(long long amount) {
    std::string digits = std::to_string(amount < 0 ? -(amount + 1) + 1ULL : amount + 0ULL);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back('.');
        out.push_back(digits[i]);
    }
    return (amount < 0 ? "-" : "") + out + " đ";
}

void append_escaped(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out.push_back(c);
        }
    }
}

}  // namespace

struct Template::Impl {
    // `indent` is added to the column of every line after the first (YAML block scalars).
    static std::variant<Template, Error> compile(std::string_view source, std::string file,
                                                 int line, int column, int indent);

    std::string source;
    std::string file;
    Nodes nodes;

    std::optional<Error> render(const Nodes& list, const json::value& ctx,
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

    Error error_at(const ExprNode& e, std::string message) const {
        return Error{file, e.pos.line, e.pos.column, std::move(message)};
    }

    // The value flowing through a filter chain: the context's own value until a filter makes
    // a text of it (so a plain `{{ path }}` copies nothing but the final text), then that text.
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

    std::optional<Error> expr(const ExprNode& e, const json::value& ctx,
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
};

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

std::variant<Template, Error> Template::Impl::compile(std::string_view source, std::string file,
                                                      int line, int column, int indent) {
    auto impl = std::make_shared<Impl>();
    impl->source = std::string(source);
    impl->file = file;
    try {
        Compiler c(impl->source, line, column, indent);
        impl->nodes = c.run();
    } catch (SyntaxError& e) {
        return Error{std::move(file), e.pos.line, e.pos.column, std::move(e.message)};
    }
    Template t;
    t.impl_ = std::move(impl);
    return t;
}

namespace {

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
            errors_.push_back(Error{file_, e.mark.line + 1, e.mark.column + 1, e.msg});
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
        bool known = std::any_of(kStatusLabels.begin(), kStatusLabels.end(),
                                 [&](const auto& kv) { return kv.first == status; });
        if (!known) {
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
        if (loader.load(st)) set->by_status_.emplace(status, std::move(st));
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
