// The factory every adapter writes, written once. An adapter derives its factory from
// FactoryKit<Config>, names its type and channels, reads its own keys in read() and builds the
// provider in build(). The kit does the rest in the order `--check` reports it: the adapter's
// key errors, a channel the type cannot serve, then every unknown key (ConfigView::finish(),
// called exactly once); and it builds the provider only when nothing was reported.
//
// Threading: factories run on the thread that loads the configuration; no I/O.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "providers/config_view.hpp"
#include "providers/provider.hpp"

namespace tinbao::adapter {

// "type esms serves channel sms only"; "type x serves channels sms, zalo only".
std::string channel_error(std::string_view type, const std::vector<Channel>& channels);

template <class Config>
class FactoryKit : public ProviderFactory {
  public:
    // `channels` empty: the type serves every channel.
    FactoryKit(std::string type, std::vector<Channel> channels)
        : type_(std::move(type)), channels_(std::move(channels)) {}

    std::string_view type() const final { return type_; }

    bool supports(Channel c) const final {
        return channels_.empty() ||
               std::find(channels_.begin(), channels_.end(), c) != channels_.end();
    }

    std::unique_ptr<Provider> create(const ProviderSettings& settings, ConfigView& cfg,
                                     const ProviderContext& ctx) const final {
        const std::size_t errors_before = cfg.diagnostics().items.size();
        Config config = read(settings, cfg, ctx);
        if (!supports(settings.channel)) cfg.error("channel", channel_error(type_, channels_));
        cfg.finish();
        if (cfg.diagnostics().items.size() != errors_before) return nullptr;
        return build(settings, std::move(config), ctx);
    }

  protected:
    // Reads the adapter's own keys (the common ones are consumed already) and reports every
    // problem through `cfg`. Must not do I/O: `--check` runs it with a null HttpClient.
    virtual Config read(const ProviderSettings& settings, ConfigView& cfg,
                        const ProviderContext& ctx) const = 0;
    // Builds the provider from a configuration read without a single error.
    virtual std::unique_ptr<Provider> build(const ProviderSettings& settings, Config config,
                                            const ProviderContext& ctx) const = 0;

  private:
    std::string type_;
    std::vector<Channel> channels_;
};

}  // namespace tinbao::adapter
