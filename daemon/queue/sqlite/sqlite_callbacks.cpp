// SqliteQueue's call-back queue: table `webhooks` (schema.cpp), the semantics of the Redis
// backend's redis/callbacks.lua.
#include <spdlog/spdlog.h>

#include "common/time.hpp"
#include "daemon/queue/sqlite/queue_parts.hpp"

namespace asio = boost::asio;

namespace tinbao::queue {

using sqlite_detail::Db;

namespace sqlite_detail {

void write_notices(Db& db, const std::vector<Notice>& notices, int64_t now, int64_t ttl,
                   const std::string* settled) {
    for (auto& n : notices) {
        if (n.if_settles && settled == nullptr) continue;
        // Reported again within its window (a citizen's message the provider sent twice): the
        // first arrival's call-back is the one.
        if (!n.once_key.empty()) {
            db.exec("DELETE FROM callbacks WHERE key = ? AND expires_at <= ?", n.once_key, now);
            db.exec("INSERT OR IGNORE INTO callbacks (key, expires_at) VALUES (?, ?)", n.once_key,
                    now + (n.once_ttl_ms > 0 ? n.once_ttl_ms : ttl));
            if (db.changes() == 0) continue;
        }
        std::string body = n.body;
        if (n.if_settles) {
            auto at = body.find(kEventStateMark);
            if (at != std::string::npos) body.replace(at, kEventStateMark.size(), *settled);
        }
        // A call-back already queued (a commit written again after a crash) keeps its attempts.
        for (auto& [client, id] : n.to)
            db.exec(
                "INSERT OR IGNORE INTO webhooks (id, client, kind, body, created_at, due_ms,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                id, client, n.kind, body, now, now, now + ttl);
    }
}

}  // namespace sqlite_detail

asio::awaitable<Result<void>> SqliteQueue::enqueue_notices(const std::vector<Notice>& notices) {
    if (notices.empty()) co_return Result<void>();
    std::function<bool(Db&)> fn = [notices, ttl = dedupe_ttl_.count()](Db& db) {
        sqlite_detail::write_notices(db, notices, now_ms(), ttl, nullptr);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    if (!ok) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<Result<std::vector<Callback>>> SqliteQueue::take_callbacks(
    const std::string& client, std::size_t max, std::chrono::milliseconds lease) {
    using Out = std::optional<std::vector<Callback>>;
    std::function<Out(Db&)> fn = [client, max, lease = lease.count()](Db& db) -> Out {
        auto now = now_ms();
        std::vector<Callback> out;
        {
            auto st = db.query(
                "SELECT id, kind, body, created_at, attempts, last_error FROM webhooks"
                " WHERE client = ? AND dead = 0 AND due_ms <= ? AND expires_at > ?"
                " ORDER BY due_ms, id LIMIT ?",
                client, now, now, max);
            while (st.next()) {
                Callback cb;
                cb.id = st.text(0);
                cb.client = client;
                cb.kind = st.text(1);
                cb.body = st.text(2);
                cb.created_ms = st.i64(3);
                cb.attempts = static_cast<int>(st.i64(4));
                cb.last_error = st.text(5);
                cb.due_ms = now;
                out.push_back(std::move(cb));
            }
        }
        // Leased by moving the next attempt to the lease's end.
        for (auto& cb : out)
            db.exec("UPDATE webhooks SET due_ms = ? WHERE id = ?", now + lease, cb.id);
        return out;
    };
    Out out = co_await on_writer<Out>(std::move(fn), std::nullopt);
    if (!out) co_return unavailable();
    co_return std::move(*out);
}

asio::awaitable<Result<void>> SqliteQueue::settle_callbacks(
    const std::vector<CallbackOutcome>& outcomes) {
    if (outcomes.empty()) co_return Result<void>();
    std::function<bool(Db&)> fn = [outcomes, ttl = dedupe_ttl_.count()](Db& db) {
        auto now = now_ms();
        for (auto& o : outcomes) {
            switch (o.next) {
                case CallbackOutcome::Next::done:
                    db.exec("DELETE FROM webhooks WHERE id = ?", o.id);
                    break;
                case CallbackOutcome::Next::retry:
                    db.exec(
                        "UPDATE webhooks SET due_ms = ?, attempts = ?, last_error = ?"
                        " WHERE id = ? AND dead = 0",
                        o.due_ms, o.attempts, o.last_error, o.id);
                    break;
                case CallbackOutcome::Next::dead:
                    db.exec(
                        "UPDATE webhooks SET dead = 1, due_ms = ?, attempts = ?, last_error = ?,"
                        " expires_at = ? WHERE id = ?",
                        now, o.attempts, o.last_error, now + ttl, o.id);
                    break;
            }
        }
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    if (!ok) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<Result<std::vector<Callback>>> SqliteQueue::callback_dead_letters(
    const std::string& client, std::size_t limit) {
    using Out = std::optional<std::vector<Callback>>;
    std::function<Out(Db&)> fn = [client, limit](Db& db) -> Out {
        auto now = now_ms();
        std::vector<Callback> out;
        auto st = db.query(
            "SELECT id, client, kind, body, created_at, attempts, last_error, due_ms"
            " FROM webhooks WHERE dead = 1 AND (? = '' OR client = ?) AND expires_at > ?"
            " ORDER BY due_ms DESC, id LIMIT ?",
            client, client, now, limit);
        while (st.next()) {
            Callback cb;
            cb.id = st.text(0);
            cb.client = st.text(1);
            cb.kind = st.text(2);
            cb.body = st.text(3);
            cb.created_ms = st.i64(4);
            cb.attempts = static_cast<int>(st.i64(5));
            cb.last_error = st.text(6);
            cb.due_ms = st.i64(7);
            out.push_back(std::move(cb));
        }
        return out;
    };
    Out out = co_await on_reader<Out>(std::move(fn), std::nullopt);
    if (!out) co_return unavailable();
    co_return std::move(*out);
}

asio::awaitable<Result<std::vector<std::string>>> SqliteQueue::replay_callbacks(
    const std::vector<std::string>& ids, const std::string& client) {
    using Out = std::optional<std::vector<std::string>>;
    std::function<Out(Db&)> fn = [ids, client, ttl = dedupe_ttl_.count()](Db& db) -> Out {
        auto now = now_ms();
        std::vector<std::string> chosen = ids;
        if (chosen.empty()) {
            auto st = db.query("SELECT id FROM webhooks WHERE dead = 1 AND (? = '' OR client = ?)",
                               client, client);
            while (st.next()) chosen.push_back(st.text(0));
        }
        std::vector<std::string> out;
        for (auto& id : chosen) {
            db.exec(
                "UPDATE webhooks SET dead = 0, attempts = 0, last_error = '', created_at = ?,"
                " due_ms = ?, expires_at = ? WHERE id = ? AND dead = 1 AND (? = '' OR client = ?)",
                now, now, now + ttl, id, client, client);
            if (db.changes() > 0) out.push_back(id);
        }
        return out;
    };
    Out out = co_await on_writer<Out>(std::move(fn), std::nullopt);
    if (!out) co_return unavailable();
    co_return std::move(*out);
}

}  // namespace tinbao::queue
