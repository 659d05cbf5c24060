// Compiled by the ProviderDirection tests, never linked: an adapter-like source. It includes what
// an adapter may include, and with TINBAO_PROBE_DAEMON a daemon header too, which must not be
// found from an adapter's include path (see tests/unit/providers/CMakeLists.txt).
#include "common/time.hpp"
#include "providers/adapter_kit.hpp"
#include "providers/provider.hpp"
#ifdef TINBAO_PROBE_DAEMON
#include "daemon/config/config.hpp"
#endif

namespace tinbao {
int64_t direction_probe() { return now_ms(); }
}  // namespace tinbao
