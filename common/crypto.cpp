#include "common/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <stdexcept>

#include "common/encoding.hpp"

namespace tinbao {

namespace {

std::string digest(const EVP_MD* md, std::string_view data) {
    std::string out(EVP_MAX_MD_SIZE, '\0');
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len, md,
                   nullptr) != 1)
        throw std::runtime_error("digest failed");
    out.resize(len);
    return out;
}

}  // namespace

std::string sha256(std::string_view data) { return digest(EVP_sha256(), data); }

std::string sha1(std::string_view data) { return digest(EVP_sha1(), data); }

std::string hmac_sha256(std::string_view key, std::string_view data) {
    static const unsigned char kEmpty = 0;
    std::string out(SHA256_DIGEST_LENGTH, '\0');
    unsigned int len = 0;
    const void* k = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
    if (HMAC(EVP_sha256(), k, static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(),
             reinterpret_cast<unsigned char*>(out.data()), &len) == nullptr ||
        len != out.size())
        throw std::runtime_error("HMAC-SHA256 failed");
    return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
    return hex_encode(hmac_sha256(key, data));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    // Both sides are reduced to a MAC under a per-process random key, so the comparison takes
    // the same time whatever the lengths and wherever the first difference is.
    static const std::string key = [] {
        std::array<unsigned char, 32> k{};
        if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1)
            throw std::runtime_error("RAND_bytes failed");
        return std::string(reinterpret_cast<const char*>(k.data()), k.size());
    }();
    const std::string ma = hmac_sha256(key, a), mb = hmac_sha256(key, b);
    return CRYPTO_memcmp(ma.data(), mb.data(), ma.size()) == 0;
}

}  // namespace tinbao
