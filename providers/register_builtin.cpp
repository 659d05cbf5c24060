// The adapters every release ships. An explicit list: adding an adapter means one line here and
// its library in providers/CMakeLists.txt; nothing registers itself.
#include "providers/provider.hpp"

namespace tinbao {

void register_builtin_providers(ProviderRegistry& registry) {
    (void)registry;
}

}  // namespace tinbao
