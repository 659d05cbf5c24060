// A StateStore on one JSON file, for the embedded (single node) case and for tests.
//
// Values live in `path` as one JSON object {key: value}. put() rewrites it whole: a temporary
// file in the same folder, fsync, rename over `path`, fsync of the folder, so a crash leaves
// either the old or the new content. Writers (also in other processes) are serialised by an
// flock on "<path>.lock"; that file also holds the leases of try_lock() as
// {key: {"owner": ..., "expires_at_ms": ...}}, so a lease held by a process that died ends at
// its expiry. Within one process leases are also tracked in memory.
//
// File operations are synchronous: small local writes, as the Provider contract allows.
// Threading: one io_context thread; not thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "providers/state_store.hpp"

namespace tinbao {

class FileStateStore final : public StateStore {
  public:
    // `path`: the JSON file (its folder must exist; the file is created on first put()).
    explicit FileStateStore(std::string path);

    boost::asio::awaitable<StoreRead> get(std::string key) override;
    boost::asio::awaitable<bool> put(std::string key, std::string value) override;
    boost::asio::awaitable<bool> try_lock(std::string key, std::chrono::milliseconds ttl) override;
    boost::asio::awaitable<void> unlock(std::string key) override;

    const std::string& path() const { return path_; }

    // The same operations without a coroutine, for startup code and tools.
    StoreRead get_now(const std::string& key);
    bool put_now(const std::string& key, const std::string& value);
    bool try_lock_now(const std::string& key, std::chrono::milliseconds ttl);
    void unlock_now(const std::string& key);

  private:
    std::string path_;
    std::string lock_path_;
    std::string owner_;                    // this instance, in lease records
    std::map<std::string, int64_t> held_;  // key -> lease expiry (Unix ms) held by this instance
};

}  // namespace tinbao
