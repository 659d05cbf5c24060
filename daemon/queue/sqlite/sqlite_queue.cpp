#include "daemon/queue/sqlite/sqlite_queue.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "common/private_files.hpp"
#include "common/time.hpp"
#include "daemon/model/limits.hpp"
#include "daemon/model/rules.hpp"
#include "daemon/queue/sqlite/queue_parts.hpp"
#include "daemon/queue/sqlite/schema.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao::queue {

using sqlite_detail::Db;
using sqlite_detail::entry_number;
using sqlite_detail::fetch_messages;
using sqlite_detail::last_error_reason;
using sqlite_detail::message_json;
using sqlite_detail::stored_event_state;
using sqlite_detail::waiting_of;
using sqlite_detail::write_notices;

SqliteQueue::SqliteQueue(asio::io_context& io, std::filesystem::path db_file, Millis dedupe_ttl,
                         std::string consumer, Millis claim_idle, Millis retention)
    : io_(io),
      path_(std::move(db_file)),
      dedupe_ttl_(dedupe_ttl),
      consumer_(std::move(consumer)),
      claim_idle_(claim_idle),
      retention_(retention),
      purge_timer_(io) {
    // Full event payloads (names, phone numbers) live here: 0600, and SQLite gives its -wal and
    // -shm the database file's mode.
    if (path_.has_parent_path())
        if (auto ec = create_private_directories(path_.parent_path()))
            throw std::runtime_error("cannot create " + path_.parent_path().string() + ": " +
                                     ec.message());
    if (auto ec = ensure_private_file(path_))
        throw std::runtime_error("cannot open " + path_.string() + ": " + ec.message());
    narrow_if_exists(path_.string() + "-wal");
    narrow_if_exists(path_.string() + "-shm");
    auto wdb = std::make_unique<Db>(path_, "writer");
    configure(*wdb, true);
    migrate(*wdb);
    auto rdb = std::make_unique<Db>(path_, "reader");
    configure(*rdb, false);
    writer_ = std::make_unique<sqlite_detail::Worker>(std::move(wdb), "BEGIN IMMEDIATE");
    reader_ = std::make_unique<sqlite_detail::Worker>(std::move(rdb), "BEGIN");
}

SqliteQueue::~SqliteQueue() {
    // Joins both threads after they finish what was queued.
    writer_.reset();
    reader_.reset();
}

void SqliteQueue::start() {
    stopped_ = false;
    arm_purge();
}

void SqliteQueue::stop() {
    stopped_ = true;
    purge_timer_.cancel();
    wake_readers();
}

bool SqliteQueue::ready() const { return !stopped_ && writer_->healthy(); }

std::string SqliteQueue::describe() const {
    return "sqlite " + path_.string() + " consumer " + consumer_;
}

void SqliteQueue::arm_purge() {
    purge_timer_.expires_after(std::chrono::hours(1));
    purge_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopped_) return;
        asio::co_spawn(
            io_,
            [this]() -> asio::awaitable<void> {
                bool ok = co_await purge(retention_.count());
                if (!ok) spdlog::warn("queue: the hourly purge failed; retried in an hour");
            },
            asio::detached);
        arm_purge();
    });
}

void SqliteQueue::wake_readers() {
    for (auto& t : read_waiters_) t->cancel();
    read_waiters_.clear();
}

asio::awaitable<Result<void>> SqliteQueue::ingest(const Event& event, const std::string& payload) {
    auto ttl = dedupe_ttl_.count();
    std::function<Result<void>(Db&)> fn = [event_id = event.event_id, dossier = event.dossier_code,
                                           status = event.status, payload, ttl](Db& db) {
        auto now = now_ms();
        {
            auto st = db.query("SELECT 1 FROM events WHERE event_id = ? AND expires_at > ?",
                               event_id, now);
            if (st.next()) return Result<void>(fail(Errc::duplicate));
        }
        db.exec("INSERT INTO entries (payload, source, created_at) VALUES (?, 'http', ?)", payload,
                now);
        auto entry = std::to_string(db.last_rowid());
        db.exec(
            "INSERT OR REPLACE INTO events (event_id, entry_id, state, status, dossier_code,"
            " msgs, created_at, updated_at, expires_at)"
            " VALUES (?, ?, 'accepted', ?, ?, NULL, ?, ?, ?)",
            event_id, entry, status, dossier, now, now, now + ttl);
        return Result<void>();
    };
    auto out = co_await on_writer<Result<void>>(std::move(fn), unavailable());
    if (out) {
        ++ingest_generation_;
        wake_readers();
    } else if (out.error() == Errc::queue_unavailable) {
        spdlog::warn("queue: ingest of event {} failed", event.event_id);
    }
    co_return out;
}

namespace {
struct ReadResult {
    std::vector<Entry> entries;
    bool own_done = false;
    int64_t cursor = 0;
};
}  // namespace

asio::awaitable<Result<std::vector<Entry>>> SqliteQueue::read(std::size_t max,
                                                              std::chrono::milliseconds wait) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        auto generation = ingest_generation_;
        using Out = std::optional<ReadResult>;
        std::function<Out(Db&)> fn = [consumer = consumer_, own = reading_own_pending_,
                                      cursor = own_cursor_, lease = claim_idle_.count(),
                                      max](Db& db) -> Out {
            ReadResult r;
            r.cursor = cursor;
            auto now = now_ms();
            std::unordered_set<int64_t> seen;
            auto collect = [&](Db::Stmt& st) {
                while (r.entries.size() < max && st.next()) {
                    auto id = st.i64(0);
                    if (!seen.insert(id).second) continue;
                    r.entries.push_back(
                        Entry{std::to_string(id), st.text(1), st.text(2), st.i64(3)});
                }
            };
            // After a start: what this consumer held before (a crash) comes first.
            if (own) {
                auto st = db.query(
                    "SELECT id, payload, source, created_at FROM entries WHERE acked = 0 AND "
                    "owner = ? AND id > ? ORDER BY id LIMIT ?",
                    consumer, cursor, max);
                collect(st);
                if (r.entries.empty())
                    r.own_done = true;
                else
                    r.cursor = std::stoll(r.entries.back().id);
            }
            // Entries of a consumer that stopped refreshing its lease are taken over.
            if (r.entries.size() < max) {
                auto st = db.query(
                    "SELECT id, payload, source, created_at FROM entries WHERE acked = 0 AND "
                    "owner IS NOT NULL AND leased_until <= ? ORDER BY id LIMIT ?",
                    now, max);
                auto before = r.entries.size();
                collect(st);
                if (r.entries.size() > before)
                    spdlog::info("queue: took over {} entries from a consumer that stopped",
                                 r.entries.size() - before);
            }
            if (r.entries.size() < max) {
                auto st = db.query(
                    "SELECT id, payload, source, created_at FROM entries WHERE acked = 0 AND "
                    "owner IS NULL ORDER BY id LIMIT ?",
                    max - r.entries.size());
                collect(st);
            }
            for (auto& e : r.entries)
                db.exec("UPDATE entries SET owner = ?, leased_until = ? WHERE id = ?", consumer,
                        now + lease, std::stoll(e.id));
            return r;
        };
        Out got = co_await on_writer<Out>(std::move(fn), std::nullopt);
        if (!got) co_return unavailable();
        if (reading_own_pending_) {
            own_cursor_ = got->cursor;
            if (got->own_done) reading_own_pending_ = false;
        }
        if (!got->entries.empty() || stopped_ || std::chrono::steady_clock::now() >= deadline)
            co_return std::move(got->entries);
        if (generation != ingest_generation_) continue;  // something arrived meanwhile
        auto timer = std::make_shared<asio::steady_timer>(io_, deadline);
        read_waiters_.push_back(timer);
        co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
        std::erase(read_waiters_, timer);
    }
}

asio::awaitable<Result<Claim>> SqliteQueue::claim(const Entry& entry, const Event& event,
                                                  const std::vector<MessageRecord>& initial) {
    std::vector<std::pair<std::string, std::string>> msgs;  // id, json
    for (auto& m : initial) msgs.emplace_back(m.id, m.to_json_text());
    std::function<Result<Claim>(Db&)> fn = [entry_id = entry.id, event_id = event.event_id,
                                            dossier = event.dossier_code, status = event.status,
                                            msgs = std::move(msgs),
                                            states =
                                                [&] {
                                                    std::vector<std::string> s;
                                                    for (auto& m : initial) s.push_back(m.state);
                                                    return s;
                                                }(),
                                            ttl = dedupe_ttl_.count()](Db& db) -> Result<Claim> {
        Claim c;
        auto now = now_ms();
        std::optional<std::string> owner;
        bool has_msgs = false, exists = false;
        {
            auto st = db.query(
                "SELECT entry_id, msgs FROM events WHERE event_id = ? AND "
                "expires_at > ?",
                event_id, now);
            if (st.next()) {
                exists = true;
                if (!st.null(0)) owner = st.text(0);
                has_msgs = !st.null(1);
            }
        }
        if (owner && *owner != entry_id) return fail(Errc::duplicate);
        if (!exists) {
            db.exec(
                "INSERT OR REPLACE INTO events (event_id, entry_id, state, status,"
                " dossier_code, msgs, created_at, updated_at, expires_at)"
                " VALUES (?, ?, 'accepted', ?, ?, NULL, ?, ?, ?)",
                event_id, entry_id, status, dossier, now, now, now + ttl);
        } else if (!owner) {
            // A row written by a commit after the election had expired: this entry owns it now.
            db.exec(
                "UPDATE events SET entry_id = ?, state = 'accepted', dossier_code = ?,"
                " status = ?, created_at = ?, updated_at = ? WHERE event_id = ?",
                entry_id, dossier, status, now, now, event_id);
        }
        if (!has_msgs && !msgs.empty()) {
            std::string list;
            for (auto& [id, j] : msgs) list += (list.empty() ? "" : ",") + id;
            db.exec("UPDATE events SET msgs = ? WHERE event_id = ?", list, event_id);
        }
        // Per-dossier order: an earlier notice of this dossier still waiting (a retry, quiet
        // hours) holds the new ones back until its own next attempt.
        c.blocked_until_ms =
            tinbao::dossier_blocked_until(waiting_of(db, dossier, now), std::nullopt, "");
        for (size_t i = 0; i < msgs.size(); ++i) {
            auto& [id, j] = msgs[i];
            if (auto cur = message_json(db, id, now)) {
                c.existing.push_back(MessageRecord::from_json(*cur));
            } else {
                // The dossier's order is fixed at first sight (the Redis backend's ZADD NX).
                int64_t created = now;
                {
                    auto st = db.query("SELECT created_at FROM messages WHERE id = ?", id);
                    if (st.next()) created = st.i64(0);
                }
                db.exec(
                    "INSERT OR REPLACE INTO messages (id, event_id, dossier_code, state,"
                    " created_at, json, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    id, event_id, dossier, states[i], created, j, now + ttl);
                c.existing.push_back(std::nullopt);
            }
        }
        return c;
    };
    Result<Claim> c = co_await on_writer<Result<Claim>>(std::move(fn), unavailable());
    if (!c) {
        if (c.error() == Errc::queue_unavailable)
            spdlog::warn("queue: claim of event {} failed", event.event_id);
        co_return c;
    }
    c->existing.resize(initial.size());
    co_return c;
}

asio::awaitable<Result<void>> SqliteQueue::commit(const Commit& c) {
    struct Msg {
        std::string id, state, json, reason;
        int64_t created;
    };
    std::vector<Msg> msgs;
    for (auto& m : c.messages)
        msgs.push_back(Msg{m.id, m.state, m.to_json_text(), m.last_error_reason, m.created_at_ms});
    std::optional<int64_t> ack;
    if (c.ack) {
        ack = entry_number(c.ack->id);
        if (!ack) spdlog::warn("queue: commit names an unknown entry {}", c.ack->id);
    }
    std::function<bool(Db&)> fn = [msgs = std::move(msgs), schedule = c.schedule, done = c.done,
                                   dead = c.dead, notices = c.notices, spend = c.spend,
                                   event_id = c.event_id, dossier = c.dossier_code,
                                   status = c.status, ack, ttl = dedupe_ttl_.count()](Db& db) {
        auto now = now_ms();
        std::string list;
        std::string before{state::kAccepted};
        bool exists = false;
        if (!event_id.empty()) {
            auto st =
                db.query("SELECT msgs, state FROM events WHERE event_id = ? AND expires_at > ?",
                         event_id, now);
            if (st.next()) {
                exists = true;
                list = st.text(0);
                before = st.text(1);
            }
        }
        std::unordered_map<std::string, std::string> reasons;
        for (auto& m : msgs) {
            reasons[m.id] = m.reason;
            int64_t created = m.created;
            {
                auto st = db.query("SELECT created_at FROM messages WHERE id = ?", m.id);
                if (st.next()) created = st.i64(0);
            }
            db.exec(
                "INSERT OR REPLACE INTO messages (id, event_id, dossier_code, state,"
                " created_at, json, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                m.id, event_id, dossier, m.state, created, m.json, now + ttl);
            if (("," + list + ",").find("," + m.id + ",") == std::string::npos)
                list += (list.empty() ? "" : ",") + m.id;
        }
        for (auto& j : schedule) {
            db.exec("INSERT OR REPLACE INTO jobs (message_id, due_ms, payload) VALUES (?, ?, ?)",
                    j.message_id, j.due_ms, j.payload);
            // A replay: the dead letter leaves in the transaction that schedules its job.
            db.exec("DELETE FROM dead WHERE message_id = ?", j.message_id);
        }
        for (auto& id : done) db.exec("DELETE FROM jobs WHERE message_id = ?", id);
        for (auto& j : dead) {
            db.exec("DELETE FROM jobs WHERE message_id = ?", j.message_id);
            std::string reason;
            if (auto it = reasons.find(j.message_id); it != reasons.end()) {
                reason = it->second;
            } else if (auto cur = message_json(db, j.message_id, now)) {
                reason = last_error_reason(*cur);
            }
            db.exec(
                "INSERT OR REPLACE INTO dead (message_id, at_ms, reason, payload)"
                " VALUES (?, ?, ?, ?)",
                j.message_id, now, reason, j.payload);
        }
        if (!event_id.empty()) {
            if (exists) {
                db.exec(
                    "UPDATE events SET msgs = ?, status = ?, dossier_code = ?,"
                    " updated_at = ?, created_at = coalesce(created_at, ?) WHERE event_id = ?",
                    list, status, dossier, now, now, event_id);
            } else {
                db.exec(
                    "INSERT OR REPLACE INTO events (event_id, entry_id, state, status,"
                    " dossier_code, msgs, created_at, updated_at, expires_at)"
                    " VALUES (?, NULL, 'accepted', ?, ?, ?, ?, ?, ?)",
                    event_id, status, dossier, list, now, now, now + ttl);
            }
            std::string after = stored_event_state(db, list, now);
            db.exec("UPDATE events SET state = ?, expires_at = ? WHERE event_id = ?", after,
                    now + ttl, event_id);
            // event.settled: when this write settles the event (the Redis commit's rule).
            const bool settles = after != state::kAccepted && (before == state::kAccepted || ack);
            write_notices(db, notices, now, ttl, settles ? &after : nullptr);
        } else {
            write_notices(db, notices, now, ttl, nullptr);
        }
        // The agencies' spend of the month: one state row per figure, added to in place.
        for (auto& sp : spend) {
            for (auto [what, n] :
                 {std::pair{"dong", sp.dong}, std::pair{"segments", sp.segments}}) {
                if (n == 0) continue;
                db.exec(
                    "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                    " SET value = CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER)",
                    sqlite_detail::spend_key(sp.month, sp.agency, what), std::to_string(n));
            }
        }
        if (ack) db.exec("UPDATE entries SET acked = 1 WHERE id = ?", *ack);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    if (!ok) {
        spdlog::warn("queue: commit for event {} failed", c.event_id);
        co_return unavailable();
    }
    co_return Result<void>();
}

asio::awaitable<Result<std::vector<DueJob>>> SqliteQueue::take_due(
    std::size_t max, std::chrono::milliseconds lease) {
    using Out = std::optional<std::vector<DueJob>>;
    std::function<Out(Db&)> fn = [max, lease = lease.count()](Db& db) -> Out {
        auto now = now_ms();
        std::vector<DueJob> out;
        {
            auto st = db.query(
                "SELECT message_id, payload FROM jobs WHERE due_ms <= ?"
                " ORDER BY due_ms, message_id LIMIT ?",
                now, max);
            while (st.next()) {
                DueJob d;
                d.job.message_id = st.text(0);
                d.job.payload = st.text(1);
                d.job.due_ms = now;
                out.push_back(std::move(d));
            }
        }
        // Leased by moving the due time to the lease's end: nobody else takes it before.
        for (auto& d : out) {
            db.exec("UPDATE jobs SET due_ms = ? WHERE message_id = ?", now + lease,
                    d.job.message_id);
            if (auto raw = message_json(db, d.job.message_id, now))
                d.record = MessageRecord::from_json(*raw);
        }
        return out;
    };
    Out out = co_await on_writer<Out>(std::move(fn), std::nullopt);
    if (!out) co_return unavailable();
    co_return std::move(*out);
}

asio::awaitable<Result<std::vector<ReportOutcome>>> SqliteQueue::apply_updates(
    const std::vector<DeliveryUpdate>& updates, const ReportNotices& notices) {
    using Outcomes = std::optional<std::vector<ReportOutcome>>;
    std::function<Outcomes(Db&)> fn = [updates, notices, ttl = dedupe_ttl_.count()](Db& db) {
        auto now = now_ms();
        std::vector<ReportOutcome> outcomes;
        for (auto& u : updates) {
            ReportOutcome& found = outcomes.emplace_back();
            auto raw = message_json(db, u.message_id, now);
            std::optional<MessageRecord> rec;
            if (raw) rec = MessageRecord::from_json(*raw);
            if (rec) {
                found.event_id = rec->event_id;
                found.dossier_code = rec->dossier_code;
            }
            // Once per report: the key is spent even when the message is unknown.
            if (!u.dedupe_key.empty()) {
                db.exec("DELETE FROM callbacks WHERE key = ? AND expires_at <= ?", u.dedupe_key,
                        now);
                db.exec("INSERT OR IGNORE INTO callbacks (key, expires_at) VALUES (?, ?)",
                        u.dedupe_key, now + ttl);
                if (db.changes() == 0) continue;
            }
            if (!rec || !apply_delivery_report(*rec, u, now)) continue;
            found.applied = true;
            db.exec("UPDATE messages SET json = ?, state = ? WHERE id = ?", rec->to_json_text(),
                    rec->state, u.message_id);
            if (notices) write_notices(db, notices(*rec), now, ttl, nullptr);
            const std::string& event_id = rec->event_id;
            std::optional<std::string> list;
            {
                auto q = db.query("SELECT msgs FROM events WHERE event_id = ? AND expires_at > ?",
                                  event_id, now);
                if (q.next()) list = q.text(0);
            }
            if (list)
                db.exec("UPDATE events SET state = ?, updated_at = ? WHERE event_id = ?",
                        stored_event_state(db, *list, now), now, event_id);
        }
        return Outcomes(std::move(outcomes));
    };
    Outcomes done = co_await on_writer<Outcomes>(std::move(fn), std::nullopt);
    if (!done) {
        spdlog::warn("queue: {} delivery update(s) could not be applied", updates.size());
        co_return unavailable();
    }
    co_return std::move(*done);
}

asio::awaitable<Result<void>> SqliteQueue::ack(const Entry& entry) {
    auto id = entry_number(entry.id);
    if (!id) co_return fail(Errc::not_found);
    std::function<bool(Db&)> fn = [id = *id](Db& db) {
        db.exec("UPDATE entries SET acked = 1 WHERE id = ?", id);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    if (!ok) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<Result<void>> SqliteQueue::reject(const Entry& entry, const std::string& reason) {
    std::function<bool(Db&)> fn = [entry, reason](Db& db) {
        auto now = now_ms();
        db.exec("INSERT INTO invalid (entry_id, payload, reason, at_ms) VALUES (?, ?, ?, ?)",
                entry.id, entry.payload, reason, now);
        // At most about 100,000 kept, as the Redis backend's MAXLEN.
        db.exec("DELETE FROM invalid WHERE id <= (SELECT max(id) FROM invalid) - ?",
                limits::kInvalidEntriesKept);
        if (auto id = entry_number(entry.id))
            db.exec("UPDATE entries SET acked = 1 WHERE id = ?", *id);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    if (!ok) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<void> SqliteQueue::keep_alive(const std::vector<std::string>& entry_ids) {
    if (entry_ids.empty()) co_return;
    std::vector<int64_t> ids;
    for (auto& s : entry_ids)
        if (auto n = entry_number(s)) ids.push_back(*n);
    std::function<bool(Db&)> fn = [ids, consumer = consumer_, lease = claim_idle_.count()](Db& db) {
        auto until = now_ms() + lease;
        for (auto id : ids)
            db.exec("UPDATE entries SET owner = ?, leased_until = ? WHERE id = ? AND acked = 0",
                    consumer, until, id);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    (void)ok;
}

}  // namespace tinbao::queue
