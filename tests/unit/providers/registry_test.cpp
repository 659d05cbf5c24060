// register_builtin_providers(): every adapter tinbao ships is registered, serves its channels,
// and its factory builds a provider from a minimal configuration. The list below is what users'
// configuration files name in `type:`; removing an adapter from the build's list fails here.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <set>
#include <string>
#include <vector>

#include "providers/provider.hpp"
#include "tests/unit/providers/test_support.hpp"

using namespace tinbao;

namespace {

struct Shipped {
    std::string type;
    std::vector<Channel> channels;  // served
    Channel refused;                // a channel the type does not serve (ignored when all)
    std::string minimal_yaml;       // the adapter's own keys, nothing optional
};

const std::vector<Shipped>& shipped() {
    static const std::vector<Shipped> list = {
        {"esms",
         {Channel::sms},
         Channel::email,
         "base_url: http://127.0.0.1:9\napi_key: k\nsecret_key: s\nbrandname: B\n"},
        {"outbox", {Channel::sms, Channel::zalo, Channel::email}, Channel::sms, "{}"},
        {"zalo_zns", {Channel::zalo}, Channel::sms, "app_id: a\nsecret_key: s\nrefresh_token: r\n"},
        {"smtp",
         {Channel::email},
         Channel::sms,
         "url: smtp://127.0.0.1:25\nfrom: tinbao@example.vn\n"},
        {"speedsms", {Channel::sms}, Channel::zalo, "access_token: t\nsender: B\n"},
        {"http", {Channel::sms}, Channel::email, "url: http://127.0.0.1:9/send?to={{to}}\n"},
        {"vnpt",
         {Channel::sms},
         Channel::zalo,
         "url: http://127.0.0.1:9/api\napi_user: u\napi_pass: p\nusername: n\nagent_id: 1\n"
         "label_id: 2\ncontract_type_id: 1\ncontract_id: 3\n"
         "templates: { received: { id: 3100 } }\n"},
        {"viettel",
         {Channel::sms},
         Channel::zalo,
         "url: http://127.0.0.1:9/bulkapi\nuser: u\npassword: p\ncp_code: c\nservice_id: B\n"},
        {"fpt", {Channel::sms}, Channel::email, "client_id: i\nclient_secret: s\nbrandname: B\n"},
        {"smpp",
         {Channel::sms},
         Channel::email,
         "host: 127.0.0.1\nsystem_id: tinbao\nsource_addr: B\n"},
    };
    return list;
}

ProviderSettings settings_for(const Shipped& s, Channel channel) {
    ProviderSettings settings;
    settings.name = "p-" + s.type;
    settings.type = s.type;
    settings.channel = channel;
    return settings;
}

}  // namespace

TEST(BuiltinProviders, RegistersExactlyTheShippedTypes) {
    ProviderRegistry registry;
    register_builtin_providers(registry);
    std::set<std::string> registered;
    for (auto t : registry.types()) registered.insert(std::string(t));
    std::set<std::string> expected;
    for (const auto& s : shipped()) expected.insert(s.type);
    EXPECT_EQ(registered, expected);
    EXPECT_EQ(registry.types().size(), expected.size()) << "a type registered twice";
    EXPECT_EQ(registry.find("nope"), nullptr);
}

TEST(BuiltinProviders, EachBuildsFromAMinimalConfig) {
    ProviderRegistry registry;
    register_builtin_providers(registry);
    boost::asio::io_context ioc;
    test::ScratchDir dir;
    for (const auto& s : shipped()) {
        SCOPED_TRACE(s.type);
        const ProviderFactory* factory = registry.find(s.type);
        ASSERT_NE(factory, nullptr);
        EXPECT_EQ(factory->type(), s.type);
        for (Channel c : s.channels) EXPECT_TRUE(factory->supports(c)) << to_string(c);
        ProviderContext ctx;  // as `--check` gives it: no clients, no state store
        ctx.executor = ioc.get_executor();
        ctx.state_dir = dir.path().string();
        test::YamlView cfg(s.minimal_yaml);
        auto provider = factory->create(settings_for(s, s.channels.front()), cfg.view, ctx);
        ASSERT_NE(provider, nullptr) << cfg.all();
        EXPECT_EQ(provider->name(), "p-" + s.type);
        EXPECT_EQ(cfg.all(), "");
    }
}

TEST(BuiltinProviders, EachReportsAnUnknownKeyOnceAndBuildsNothing) {
    ProviderRegistry registry;
    register_builtin_providers(registry);
    boost::asio::io_context ioc;
    for (const auto& s : shipped()) {
        SCOPED_TRACE(s.type);
        const ProviderFactory* factory = registry.find(s.type);
        ASSERT_NE(factory, nullptr);
        ProviderContext ctx;
        ctx.executor = ioc.get_executor();
        std::string yaml = s.minimal_yaml == "{}" ? "" : s.minimal_yaml;
        test::YamlView cfg(yaml + "no_such_key: 1\n");
        EXPECT_EQ(factory->create(settings_for(s, s.channels.front()), cfg.view, ctx), nullptr);
        ASSERT_EQ(cfg.diags->items.size(), 1u) << cfg.all();
        EXPECT_EQ(cfg.diags->items[0].path, "providers[0].no_such_key");
        EXPECT_NE(cfg.diags->items[0].message.find("unknown key 'no_such_key'"), std::string::npos);
    }
}

TEST(BuiltinProviders, EachRefusesAChannelItDoesNotServe) {
    ProviderRegistry registry;
    register_builtin_providers(registry);
    boost::asio::io_context ioc;
    for (const auto& s : shipped()) {
        if (s.channels.size() == 3) continue;  // serves every channel
        SCOPED_TRACE(s.type);
        const ProviderFactory* factory = registry.find(s.type);
        ASSERT_NE(factory, nullptr);
        EXPECT_FALSE(factory->supports(s.refused));
        ProviderContext ctx;
        ctx.executor = ioc.get_executor();
        test::YamlView cfg(s.minimal_yaml);
        EXPECT_EQ(factory->create(settings_for(s, s.refused), cfg.view, ctx), nullptr);
        ASSERT_EQ(cfg.diags->items.size(), 1u) << cfg.all();
        EXPECT_EQ(cfg.diags->items[0].message, "type " + s.type + " serves channel " +
                                                   std::string(to_string(s.channels[0])) + " only");
    }
}
