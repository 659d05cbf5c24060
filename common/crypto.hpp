// The few cryptographic pieces tinbao needs (on OpenSSL): digests for request signatures and
// script ids, and the comparison of a secret a caller presented with the one configured.
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tinbao {

// Compares two secrets in a time that depends neither on where they first differ nor on their
// lengths: a token, a signature or an HMAC given by a caller against the configured one.
bool constant_time_equal(std::string_view a, std::string_view b);

// Raw digests (32 and 20 bytes); hex_encode (encoding.hpp) writes them as text.
std::string sha256(std::string_view data);
std::string sha1(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
// Lower-case hex of hmac_sha256 (request signatures).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace tinbao
