// The adapters every release ships. An explicit list: adding an adapter means one line here and
// its library in providers/CMakeLists.txt; nothing registers itself.
#include "providers/esms/esms.hpp"
#include "providers/outbox/outbox.hpp"
#include "providers/provider.hpp"

namespace tinbao {

void register_builtin_providers(ProviderRegistry& registry) {
    registry.add(make_esms_factory());
    registry.add(make_outbox_factory());
}

}  // namespace tinbao
