// Builds the queue the configuration names, for tinbaod and tinbaoctl alike: SQLite in
// <state_dir>/tinbao.db, or Redis Streams. The queue is also the adapters' durable StateStore.
//
// Startup only: throws std::runtime_error with a message for the operator (a database that
// cannot be opened, rediss:// which this build cannot speak). Call on the thread that owns `io`.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "daemon/config/config.hpp"
#include "daemon/queue/queue.hpp"
#include "providers/state_store.hpp"

namespace tinbao::queue {

struct OpenedQueue {
    std::unique_ptr<Queue> queue;
    StateStore* store = nullptr;  // the same object, as the adapters' durable store
};

// `consumer`: this process's name among the queue's consumers (tinbaod: queue.consumer or
// host:port; tinbaoctl: "tinbaoctl"). The queue is not started.
OpenedQueue make_queue(boost::asio::io_context& io, const Config& config,
                       const std::string& consumer);

}  // namespace tinbao::queue
