// The adapters every release ships. An explicit list: adding an adapter means one line here and
// its library in providers/CMakeLists.txt; nothing registers itself.
#include "providers/esms/esms.hpp"
#include "providers/http_generic/http_generic.hpp"
#include "providers/outbox/outbox.hpp"
#include "providers/provider.hpp"
#include "providers/smtp/smtp.hpp"
#include "providers/speedsms/speedsms.hpp"
#include "providers/zalo_zns/zalo_zns.hpp"

namespace tinbao {

void register_builtin_providers(ProviderRegistry& registry) {
    registry.add(make_esms_factory());
    registry.add(make_outbox_factory());
    registry.add(make_zalo_zns_factory());
    registry.add(make_smtp_factory());
    registry.add(make_speedsms_factory());
    registry.add(make_http_generic_factory());
}

}  // namespace tinbao
