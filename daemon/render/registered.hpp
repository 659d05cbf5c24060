// Registered brandname templates: Vietnamese carriers pass a customer-care SMS
// only when it matches the wording registered for the brandname. A provider lists that wording
// (`registered_templates`, `{{ anything }}` marking a variable part); a rendered SMS that matches
// none is failed at once (`template_not_registered`) instead of being rejected by the carrier.
//
// Matching: runs of whitespace collapse to one space and the ends are trimmed, on both sides;
// literal parts compare exactly (case-sensitive); a variable part matches 1..N characters (code
// points). The matcher is a dynamic program over text positions: O(templates x variables x text
// length), never exponential, whatever the input.
//
// Immutable once compiled; safe to share between threads.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tinbao::sms {

class RegisteredTemplates {
public:
    static constexpr std::size_t kDefaultMaxVariableChars = 160;

    // Compiles every entry; the first bad one (unbalanced braces, empty) is an error naming its
    // 0-based index: "registered_templates[2]: unclosed '{{'".
    static std::variant<RegisteredTemplates, std::string> compile(
        const std::vector<std::string>& entries,
        std::size_t max_variable_chars = kDefaultMaxVariableChars);

    // The problem with one entry, empty when it compiles (for the config loader's messages).
    static std::string check(std::string_view entry);

    RegisteredTemplates() = default;

    bool empty() const { return templates_.empty(); }
    std::size_t size() const { return templates_.size(); }

    // True when `sms_text` matches one of the templates. An empty set checks nothing: true.
    bool matches(std::string_view sms_text) const;
    // The index of the first template `sms_text` matches, or -1 (also when the set is empty).
    // `steps`, when given, grows by the work done, in text positions looked at: at most
    // 2 x (text length + 1) per variable of each template tried, whatever the input (what
    // the tests bound, instead of timing the matcher).
    int match(std::string_view sms_text, std::size_t* steps = nullptr) const;

private:
    struct Compiled {
        // literals.size() == variables + 1; each literal is whitespace-collapsed code points.
        std::vector<std::u32string> literals;
    };
    bool match_one(const Compiled& t, const std::u32string& text, std::size_t& steps) const;

    std::vector<Compiled> templates_;
    std::size_t max_variable_chars_ = kDefaultMaxVariableChars;
};

// For `tinbaod --check`: whether a rendered sample can be sent under the registered templates.
bool can_match(const RegisteredTemplates& registered, std::string_view rendered);

}  // namespace tinbao::sms
