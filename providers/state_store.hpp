// Durable small state for adapters (Zalo token pairs), shared by every tinbaod on one queue.
//
// put() returns true only once the value is durable (Redis acknowledged it, or the file was
// fsync'ed and renamed). try_lock() is a lease for single-flight work across processes and
// instances (a token refresh): true when this caller holds it until unlock() or `ttl`.
//
// Threading: awaited on the daemon's io_context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

namespace tinbao {

struct StoreRead {
    bool ok = false;                   // false: the store could not be read (retry later)
    std::optional<std::string> value;  // nullopt: no such key
};

class StateStore {
public:
    virtual ~StateStore() = default;
    virtual boost::asio::awaitable<StoreRead> get(std::string key) = 0;
    virtual boost::asio::awaitable<bool> put(std::string key, std::string value) = 0;
    // put() of a value needed for a while only (a provider's id kept for its delivery report):
    // a store that can forgets it after `ttl`; one that cannot keeps it like put().
    virtual boost::asio::awaitable<bool> put_for(std::string key, std::string value,
                                                 std::chrono::milliseconds ttl) {
        (void)ttl;
        bool stored = co_await put(std::move(key), std::move(value));
        co_return stored;
    }
    virtual boost::asio::awaitable<bool> try_lock(std::string key,
                                                  std::chrono::milliseconds ttl) = 0;
    virtual boost::asio::awaitable<void> unlock(std::string key) = 0;
};

}  // namespace tinbao
