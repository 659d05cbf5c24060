// `tinbaoctl send-test`: one real send through a configured provider, its raw answer printed,
// for operators onboarding a provider account (docs/operating.md).
#pragma once

#include <string>
#include <vector>

namespace tinbao::ctl {

// `args`: what follows `send-test` (--provider NAME --to ADDRESS [--text T] [--subject S]
// [--template-id ID] [--param N=VALUE]...). 0 when the provider accepted the message; 1 when it
// refused it or the config, queue or provider could not be used; 2 for a usage error.
int send_test(const std::string& config, const std::vector<std::string>& args);

}  // namespace tinbao::ctl
