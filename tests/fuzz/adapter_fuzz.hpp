// What adapter_fuzz.cpp, compiled once, needs of the adapter it drives. Each adapter's target
// adds one small source generated from adapter_target.cpp.in by tinbao_adapter_fuzz()
// (tests/fuzz/CMakeLists.txt) that defines these three.
#pragma once

#include <memory>

#include "providers/provider.hpp"

// The adapter's factory: make_<name>_factory().
std::unique_ptr<tinbao::ProviderFactory> tinbao_fuzz_factory();
// The adapter's configuration block, YAML flow style.
extern const char* const tinbao_fuzz_config;
// Signs a call-back as the provider does (sign_<name>.cpp), or null for an adapter without one.
extern void (*const tinbao_fuzz_signer)(tinbao::CallbackRequest& request);
