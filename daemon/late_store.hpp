// The queue's durable store for adapters (Zalo tokens), lent to the providers before the queue
// is opened: tinbaod and tinbaoctl build the runtime first, so that a config with problems is
// reported whole and opens nothing. Providers use their store only once they send, after
// attach(); before it, a read fails and a write is refused, as when the store is unreachable.
//
// Threading: the io_context thread; attach() before the first send.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>

#include "providers/state_store.hpp"

namespace tinbao {

class LateStore final : public StateStore {
  public:
    void attach(StateStore* store) { store_ = store; }

    boost::asio::awaitable<StoreRead> get(std::string key) override {
        if (!store_) co_return StoreRead{};
        auto read = co_await store_->get(std::move(key));
        co_return read;
    }
    boost::asio::awaitable<bool> put(std::string key, std::string value) override {
        if (!store_) co_return false;
        bool stored = co_await store_->put(std::move(key), std::move(value));
        co_return stored;
    }
    boost::asio::awaitable<bool> put_for(std::string key, std::string value,
                                         std::chrono::milliseconds ttl) override {
        if (!store_) co_return false;
        bool stored = co_await store_->put_for(std::move(key), std::move(value), ttl);
        co_return stored;
    }
    boost::asio::awaitable<bool> try_lock(std::string key, std::chrono::milliseconds ttl) override {
        if (!store_) co_return false;
        bool locked = co_await store_->try_lock(std::move(key), ttl);
        co_return locked;
    }
    boost::asio::awaitable<void> unlock(std::string key) override {
        if (store_) co_await store_->unlock(std::move(key));
    }

  private:
    StateStore* store_ = nullptr;
};

}  // namespace tinbao
