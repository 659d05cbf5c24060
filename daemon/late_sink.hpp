// The daemon's ProviderSink, lent to the providers before the backend that applies their
// reports exists (tinbaod builds the runtime first, like LateStore). Providers report only once
// started, after attach(); before it every report is refused (the adapter has the provider send
// it again later).
//
// Threading: the io_context thread; attach() before the providers start.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <utility>
#include <vector>

#include "providers/provider.hpp"

namespace tinbao {

class LateSink final : public ProviderSink {
  public:
    void attach(ProviderSink* sink) { sink_ = sink; }

    boost::asio::awaitable<bool> delivery_updates(std::string provider,
                                                  std::vector<DeliveryUpdate> updates) override {
        if (!sink_) co_return false;
        bool recorded = co_await sink_->delivery_updates(std::move(provider), std::move(updates));
        co_return recorded;
    }
    boost::asio::awaitable<bool> inbound(InboundMessage message) override {
        if (!sink_) co_return false;
        bool taken = co_await sink_->inbound(std::move(message));
        co_return taken;
    }

  private:
    ProviderSink* sink_ = nullptr;
};

}  // namespace tinbao
