// Masking personal data for logs and metrics: phone numbers and emails never appear whole.
#pragma once

#include <string>
#include <string_view>

namespace tinbao {

// "0912345678" / "84912345678" -> "0912***678"; anything short -> "***".
std::string mask_phone(std::string_view phone);
// "tuyet.nguyen@example.vn" -> "t***@example.vn".
std::string mask_email(std::string_view email);
// Picks by shape: an address with '@' is masked as an email, digits as a phone, else "***"
// keeping at most the first 2 characters.
std::string mask_address(std::string_view address);

}  // namespace tinbao
