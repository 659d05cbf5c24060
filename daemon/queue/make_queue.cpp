#include "daemon/queue/make_queue.hpp"

#include <stdexcept>

#include "daemon/queue/redis/redis_queue.hpp"
#include "daemon/queue/sqlite/sqlite_queue.hpp"

namespace tinbao::queue {

OpenedQueue make_queue(boost::asio::io_context& io, const Config& config,
                       const std::string& consumer) {
    const auto& qs = config.queue;
    OpenedQueue out;
    if (qs.backend == "sqlite") {
        auto db = config.state_dir / "tinbao.db";
        try {
            auto q = std::make_unique<SqliteQueue>(io, db, qs.dedupe_ttl, consumer,
                                                   qs.claim_idle, qs.retention);
            out.store = q.get();
            out.queue = std::move(q);
        } catch (const std::exception& e) {
            throw std::runtime_error("queue: cannot open " + db.string() + ": " + e.what());
        }
        return out;
    }
    if (qs.redis.tls)
        // hiredis 0.14 (Debian 12) has no TLS: refuse rather than send the password in clear.
        throw std::runtime_error(
            "queue.redis.url: rediss:// (TLS) is not supported by this build; use a local TLS "
            "tunnel (stunnel) and redis:// to it");
    auto q = std::make_unique<RedisQueue>(io, qs, consumer);
    out.store = q.get();
    out.queue = std::move(q);
    return out;
}

}  // namespace tinbao::queue
