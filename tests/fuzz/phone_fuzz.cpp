// libFuzzer target for the phone number parser (applicant.phone from outside events).
#include "daemon/render/phone.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/redact.hpp"

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    if (auto m = tinbao::phone::normalize_mobile(input)) {
        check(m->size() == 11 && m->rfind("84", 0) == 0);
        for (char c : *m) check(c >= '0' && c <= '9');
        // The normal form is a fixed point.
        auto again = tinbao::phone::normalize_mobile(*m);
        check(again && *again == *m);
        check(tinbao::mask_phone(*m).size() == 10);
    }
    (void)tinbao::phone::is_landline(input);
    (void)tinbao::mask_address(input);
    return 0;
}
