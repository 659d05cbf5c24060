#include "common/redact.hpp"

#include <cctype>

namespace tinbao {

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
    return std::string(email.substr(0, 1)) + "***" + std::string(email.substr(at));
}

std::string mask_address(std::string_view address) {
    if (address.find('@') != std::string_view::npos) return mask_email(address);
    bool phone_like = !address.empty();
    for (char c : address)
        if (!std::isdigit(static_cast<unsigned char>(c)) && c != '+' && c != ' ' && c != '-' &&
            c != '(' && c != ')' && c != '.')
            phone_like = false;
    if (phone_like) return mask_phone(address);
    return std::string(address.substr(0, std::min<size_t>(2, address.size()))) + "***";
}

}  // namespace tinbao
