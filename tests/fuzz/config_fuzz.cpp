// libFuzzer target for the configuration loader: YAML from an operator's file, with ${ENV} and
// ${file:} references. It must never crash or throw; every problem is a diagnostic with a line.
#include "daemon/config/config.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    // load_config() reads a path: the input is written to a private file first.
    static const std::string path =
        "/tmp/tinbao-config-fuzz-" + std::to_string(::getpid()) + ".yaml";
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    tinbao::ConfigLoad r = tinbao::load_config(path);
    check(r.diagnostics != nullptr);
    if (!r.config) check(!r.diagnostics->items.empty());
    for (const auto& d : r.diagnostics->items) check(!d.str().empty());
    return 0;
}
