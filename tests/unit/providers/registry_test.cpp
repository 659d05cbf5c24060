// register_builtin_providers(): the explicit list of shipped adapters.
#include <gtest/gtest.h>

#include "providers/provider.hpp"

using namespace tinbao;

TEST(BuiltinProviders, RegistersEsmsAndOutbox) {
    ProviderRegistry registry;
    register_builtin_providers(registry);
    const ProviderFactory* esms = registry.find("esms");
    const ProviderFactory* outbox = registry.find("outbox");
    ASSERT_NE(esms, nullptr);
    ASSERT_NE(outbox, nullptr);
    EXPECT_EQ(esms->type(), "esms");
    EXPECT_EQ(outbox->type(), "outbox");
    EXPECT_EQ(registry.find("nope"), nullptr);
}
