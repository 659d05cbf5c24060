#include "daemon/build_info.hpp"

#include "build_commit.h"  // generated at build time by cmake/build-info.cmake

namespace tinbao {

std::string_view build_version() { return TINBAO_VERSION; }
std::string_view build_commit() { return TINBAO_COMMIT; }

}  // namespace tinbao
