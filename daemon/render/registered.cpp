#include "daemon/render/registered.hpp"
#include "daemon/render/unicode.hpp"

#include <algorithm>
#include <optional>

namespace tinbao::sms {
namespace {

bool is_ws(int32_t cp) {
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' ||
           cp == 0xA0;
}

// Code points of `s` with whitespace runs collapsed to one space. `trim_front`/`trim_back` drop
// a space at that end (the ends of a whole text; a literal next to a variable keeps its spaces).
std::u32string collapse(std::string_view s, bool trim_front, bool trim_back) {
    std::u32string out;
    out.reserve(s.size());
    bool in_space = false;
    text::for_each_codepoint(s, [&](int32_t cp, std::string_view) {
        if (is_ws(cp)) {
            in_space = true;
            return;
        }
        if (in_space && !(trim_front && out.empty())) out.push_back(U' ');
        in_space = false;
        out.push_back(cp < 0 ? char32_t{0xFFFD} : static_cast<char32_t>(cp));
    });
    if (in_space && !trim_back && !(trim_front && out.empty())) out.push_back(U' ');
    return out;
}

struct Split {
    std::vector<std::string_view> literals;  // variables + 1 raw literal parts
    std::string error;
};

Split split(std::string_view entry) {
    Split r;
    std::size_t from = 0;
    for (;;) {
        std::size_t open = entry.find("{{", from);
        std::size_t stray = entry.find("}}", from);
        if (stray < open) {
            r.error = "'}}' without a matching '{{' at byte " + std::to_string(stray);
            return r;
        }
        if (open == std::string_view::npos) {
            r.literals.push_back(entry.substr(from));
            break;
        }
        std::size_t close = entry.find("}}", open + 2);
        if (close == std::string_view::npos) {
            r.error = "unclosed '{{' at byte " + std::to_string(open);
            return r;
        }
        std::size_t nested = entry.find("{{", open + 2);
        if (nested < close) {
            r.error = "'{{' inside a variable part at byte " + std::to_string(nested);
            return r;
        }
        r.literals.push_back(entry.substr(from, open - from));
        from = close + 2;
    }
    if (!text::valid_utf8(entry)) {
        r.error = "not valid UTF-8";
        return r;
    }
    bool blank = std::all_of(r.literals.begin(), r.literals.end(),
                             [](std::string_view l) { return collapse(l, true, true).empty(); });
    if (blank && r.literals.size() == 1) r.error = "empty template";
    return r;
}

}  // namespace

std::string RegisteredTemplates::check(std::string_view entry) { return split(entry).error; }

std::variant<RegisteredTemplates, std::string> RegisteredTemplates::compile(
    const std::vector<std::string>& entries, std::size_t max_variable_chars) {
    RegisteredTemplates set;
    set.max_variable_chars_ = std::max<std::size_t>(1, max_variable_chars);
    for (std::size_t i = 0; i < entries.size(); ++i) {
        Split s = split(entries[i]);
        if (!s.error.empty())
            return "registered_templates[" + std::to_string(i) + "]: " + s.error;
        Compiled c;
        for (std::size_t k = 0; k < s.literals.size(); ++k)
            c.literals.push_back(collapse(s.literals[k], k == 0, k + 1 == s.literals.size()));
        set.templates_.push_back(std::move(c));
    }
    return set;
}

bool RegisteredTemplates::match_one(const Compiled& t, const std::u32string& text,
                                    std::size_t& steps) const {
    const std::size_t n = text.size();
    const std::u32string& first = t.literals.front();
    if (t.literals.size() == 1) return text == first;
    if (text.compare(0, first.size(), first) != 0) return false;
    // reach[p]: the text up to p matches the template up to the current variable.
    std::vector<char> reach(n + 1, 0), window(n + 2, 0);
    std::vector<std::size_t> prefix(n + 2, 0);
    reach[first.size()] = 1;
    const std::size_t max = max_variable_chars_;
    for (std::size_t k = 1; k < t.literals.size(); ++k) {
        // start[q]: some reached p with 1 <= q - p <= max, i.e. a variable covers text[p, q).
        prefix[0] = 0;
        for (std::size_t p = 0; p <= n; ++p) prefix[p + 1] = prefix[p] + (reach[p] ? 1 : 0);
        steps += n + 1;
        const std::u32string& lit = t.literals[k];
        bool last = k + 1 == t.literals.size();
        bool any = false;
        std::fill(window.begin(), window.end(), 0);
        for (std::size_t q = 1; q <= n; ++q) {
            ++steps;
            std::size_t lo = q > max ? q - max : 0;  // p in [lo, q - 1]
            if (prefix[q] - prefix[lo] == 0) continue;
            if (lit.size() > n - q) continue;
            if (last && q + lit.size() != n) continue;
            if (text.compare(q, lit.size(), lit) != 0) continue;
            window[q + lit.size()] = 1;
            any = true;
        }
        if (!any) return false;
        std::copy(window.begin(), window.begin() + static_cast<std::ptrdiff_t>(n + 1),
                  reach.begin());
    }
    return reach[n] != 0;
}

int RegisteredTemplates::match(std::string_view sms_text, std::size_t* steps) const {
    if (templates_.empty()) return -1;
    std::u32string text = collapse(sms_text, true, true);
    std::size_t work = 0;
    int found = -1;
    for (std::size_t i = 0; i < templates_.size() && found < 0; ++i)
        if (match_one(templates_[i], text, work)) found = static_cast<int>(i);
    if (steps) *steps += work;
    return found;
}

bool RegisteredTemplates::matches(std::string_view sms_text) const {
    return templates_.empty() || match(sms_text) >= 0;
}

bool can_match(const RegisteredTemplates& registered, std::string_view rendered) {
    return registered.matches(rendered);
}

}  // namespace tinbao::sms
