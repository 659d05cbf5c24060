// What tinbaod was built from, for tinbao_build_info and --version.
#pragma once

#include <string_view>

namespace tinbao {

std::string_view build_version();
// The commit (12 hex digits) when built from a git checkout; empty otherwise.
std::string_view build_commit();

}  // namespace tinbao
