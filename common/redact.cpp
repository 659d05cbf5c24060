#include "common/redact.hpp"

#include <cctype>

namespace tinbao {

namespace {

// The first `n` characters of `s`, never cutting a UTF-8 sequence (a log line stays UTF-8).
std::string_view first_chars(std::string_view s, std::size_t n) {
    std::size_t i = 0;
    for (std::size_t seen = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;  // continuation byte
        if (seen == n) break;
        ++seen;
    }
    return s.substr(0, i);
}

}  // namespace

std::string mask_phone(std::string_view phone) {
    std::string digits;
    for (char c : phone)
        if (std::isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
    // Show the national form: 84912345678 -> 0912345678.
    if (digits.size() == 11 && digits.compare(0, 2, "84") == 0) digits = "0" + digits.substr(2);
    if (digits.size() < 8) return "***";
    return digits.substr(0, 4) + "***" + digits.substr(digits.size() - 3);
}

std::string mask_email(std::string_view email) {
    auto at = email.rfind('@');
    if (at == std::string_view::npos || at == 0) return "***";
    return std::string(first_chars(email.substr(0, at), 1)) + "***" + std::string(email.substr(at));
}

std::string mask_address(std::string_view address) {
    if (address.find('@') != std::string_view::npos) return mask_email(address);
    bool phone_like = !address.empty();
    for (char c : address)
        if (!std::isdigit(static_cast<unsigned char>(c)) && c != '+' && c != ' ' && c != '-' &&
            c != '(' && c != ')' && c != '.')
            phone_like = false;
    if (phone_like) return mask_phone(address);
    return std::string(first_chars(address, 2)) + "***";
}

}  // namespace tinbao
