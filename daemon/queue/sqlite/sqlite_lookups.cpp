// SqliteQueue's lookups (events, messages, dossiers, gauges), dead letters, the StateStore and
// the purge; the lifecycle and the write paths are in sqlite_queue.cpp.
#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdlib>
#include <map>
#include <utility>

#include "common/encoding.hpp"
#include "common/time.hpp"
#include "daemon/model/limits.hpp"
#include "daemon/model/rules.hpp"
#include "daemon/queue/sqlite/queue_parts.hpp"
#include "daemon/queue/sqlite/sqlite_queue.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao::queue {

namespace sqlite_detail {

std::optional<int64_t> entry_number(std::string_view id) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
    if (ec != std::errc() || p != id.data() + id.size()) return std::nullopt;
    return n;
}

// The stored record of a message still within its TTL.
std::optional<std::string> message_json(Db& db, const std::string& id, int64_t now) {
    auto st = db.query("SELECT json FROM messages WHERE id = ? AND expires_at > ?", id, now);
    if (st.next()) return st.text(0);
    return std::nullopt;
}

// The event's state from the states of its messages still kept (the rule: model/rules.hpp).
std::string stored_event_state(Db& db, const std::string& msgs, int64_t now) {
    std::vector<std::string> states;
    for (auto& id : split_nonempty(msgs, ',')) {
        auto st = db.query("SELECT state FROM messages WHERE id = ? AND expires_at > ?", id, now);
        if (st.next()) states.push_back(st.text(0));
    }
    std::vector<std::string_view> views(states.begin(), states.end());
    return std::string(event_state(views));
}

// The dossier's notices that wait for a scheduled attempt (queued, with a job).
std::vector<WaitingNotice> waiting_of(Db& db, const std::string& dossier, int64_t now) {
    std::vector<WaitingNotice> out;
    auto st = db.query(
        "SELECT m.id, m.created_at, j.due_ms FROM messages m"
        " JOIN jobs j ON j.message_id = m.id"
        " WHERE m.dossier_code = ? AND m.state = 'queued' AND m.expires_at > ?",
        dossier, now);
    while (st.next()) out.push_back(WaitingNotice{st.text(0), st.i64(1), st.i64(2)});
    return out;
}

// Stored records of these ids in order; expired or missing ones left out.
json::array fetch_messages(Db& db, const std::vector<std::string>& ids, int64_t now) {
    json::array list;
    for (auto& id : ids) {
        auto raw = message_json(db, id, now);
        if (!raw) continue;
        boost::system::error_code ec;
        auto v = json::parse(*raw, ec);
        if (!ec) list.push_back(std::move(v));
    }
    return list;
}

std::string last_error_reason(const std::string& record_json) {
    auto rec = MessageRecord::from_json(record_json);
    return rec ? rec->last_error_reason : std::string();
}

}  // namespace sqlite_detail

using sqlite_detail::Db;
using sqlite_detail::entry_number;
using sqlite_detail::fetch_messages;
using sqlite_detail::last_error_reason;
using sqlite_detail::message_json;
using sqlite_detail::stored_event_state;
using sqlite_detail::waiting_of;

asio::awaitable<Result<json::value>> SqliteQueue::dead_letters(const DeadLetterQuery& q) {
    std::function<Result<json::value>(Db&)> fn = [q](Db& db) -> Result<json::value> {
        auto now = now_ms();
        std::vector<std::string> ids;
        {
            auto st = db.query(
                "SELECT message_id FROM dead WHERE (? = '' OR reason = ?)"
                " ORDER BY at_ms DESC, message_id DESC LIMIT ?",
                q.reason, q.reason, limits::kDeadLetters);
            while (st.next()) ids.push_back(st.text(0));
        }
        json::array list = fetch_messages(db, ids, now);
        if (list.size() > q.limit) list.resize(q.limit);
        return json::value(json::object{{"dead_letters", std::move(list)}});
    };
    Result<json::value> out = co_await on_reader<Result<json::value>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<std::vector<Job>>> SqliteQueue::dead_jobs(
    const std::vector<std::string>& ids, const std::string& reason) {
    using Out = std::optional<std::vector<Job>>;
    std::function<Out(Db&)> fn = [ids, reason](Db& db) -> Out {
        auto now = now_ms();
        std::vector<std::string> chosen = ids;
        if (chosen.empty() && !reason.empty()) {
            // As the listing does: only letters whose record is still kept.
            auto st = db.query(
                "SELECT message_id FROM dead WHERE reason = ?"
                " ORDER BY at_ms DESC, message_id DESC LIMIT ?",
                reason, limits::kDeadLetters);
            while (st.next()) chosen.push_back(st.text(0));
            std::erase_if(chosen, [&](const std::string& id) {
                return !message_json(db, id, now).has_value();
            });
        }
        std::vector<Job> out;
        for (auto& id : chosen) {
            std::optional<std::string> payload;
            {
                auto st = db.query("SELECT payload FROM dead WHERE message_id = ?", id);
                if (st.next()) payload = st.text(0);
            }
            if (!payload) continue;
            Job j;
            j.message_id = id;
            j.payload = std::move(*payload);
            out.push_back(std::move(j));
        }
        return out;
    };
    Out out = co_await on_writer<Out>(std::move(fn), std::nullopt);
    if (!out) co_return unavailable();
    co_return std::move(*out);
}

asio::awaitable<Result<std::vector<std::string>>> SqliteQueue::discard_dead(
    const std::vector<std::string>& ids) {
    using Out = std::optional<std::vector<std::string>>;
    std::function<Out(Db&)> fn = [ids](Db& db) -> Out {
        std::vector<std::string> out;
        for (auto& id : ids) {
            bool there = false;
            {
                auto st = db.query("SELECT 1 FROM dead WHERE message_id = ?", id);
                there = st.next();
            }
            if (!there) continue;
            db.exec("DELETE FROM dead WHERE message_id = ?", id);
            out.push_back(id);
        }
        return out;
    };
    Out out = co_await on_writer<Out>(std::move(fn), std::nullopt);
    if (!out) co_return unavailable();
    co_return std::move(*out);
}

asio::awaitable<Result<int>> SqliteQueue::heartbeat_instances() {
    // One node: this instance alone shares the providers' limits.
    co_return 1;
}

asio::awaitable<Result<int64_t>> SqliteQueue::dossier_blocked_until(const std::string& dossier_code,
                                                                    int64_t created_ms,
                                                                    const std::string& message_id) {
    std::function<Result<int64_t>(Db&)> fn = [dossier_code, created_ms, message_id](Db& db) {
        auto waiting = waiting_of(db, dossier_code, now_ms());
        return Result<int64_t>(tinbao::dossier_blocked_until(waiting, created_ms, message_id));
    };
    Result<int64_t> out = co_await on_reader<Result<int64_t>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<bool>> SqliteQueue::dossier_has_newer(const std::string& dossier_code,
                                                             const std::string& entry_id) {
    std::function<Result<bool>(Db&)> fn = [dossier_code, entry_id](Db& db) {
        // Entry ids are the entries table's increasing row ids.
        auto st = db.query(
            "SELECT 1 FROM events WHERE dossier_code = ?"
            " AND CAST(entry_id AS INTEGER) > ? LIMIT 1",
            dossier_code, static_cast<int64_t>(std::strtoll(entry_id.c_str(), nullptr, 10)));
        return Result<bool>(st.next());
    };
    Result<bool> out = co_await on_reader<Result<bool>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Queue::Gauges> SqliteQueue::gauges() {
    std::function<Gauges(Db&)> fn = [](Db& db) {
        Gauges g;
        auto count = [&](std::string_view sql) -> int64_t {
            auto st = db.query(sql);
            return st.next() ? st.i64(0) : -1;
        };
        g.backlog = count("SELECT count(*) FROM entries WHERE acked = 0");
        g.scheduled = count("SELECT count(*) FROM jobs");
        g.dead = count("SELECT count(*) FROM dead");
        // A leased job's due_ms is its lease's end (take_due): the lowest is the earliest due
        // time of a job nobody holds.
        auto st = db.query("SELECT min(due_ms) FROM jobs");
        if (st.next())
            g.oldest_due_ms = st.null(0) ? 0 : std::max<int64_t>(0, now_ms() - st.i64(0));
        return g;
    };
    Gauges out = co_await on_reader<Gauges>(std::move(fn), Gauges{});
    co_return out;
}

asio::awaitable<Result<json::value>> SqliteQueue::event_record(const std::string& event_id) {
    std::function<Result<json::value>(Db&)> fn = [event_id](Db& db) -> Result<json::value> {
        auto now = now_ms();
        json::object rec;
        std::string msgs;
        {
            auto st = db.query(
                "SELECT state, dossier_code, status, created_at, updated_at, msgs"
                " FROM events WHERE event_id = ? AND expires_at > ?",
                event_id, now);
            if (!st.next()) return fail(Errc::not_found);
            rec["event_id"] = event_id;
            rec["state"] = st.text(0);
            if (!st.null(1)) rec["dossier_code"] = st.text(1);
            if (!st.null(2)) rec["status"] = st.text(2);
            if (!st.null(3)) rec["created_at"] = rfc3339_utc(st.i64(3));
            if (!st.null(4)) rec["updated_at"] = rfc3339_utc(st.i64(4));
            msgs = st.text(5);
        }
        rec["messages"] = fetch_messages(db, split_nonempty(msgs, ','), now);
        return json::value(std::move(rec));
    };
    Result<json::value> out = co_await on_reader<Result<json::value>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<json::value>> SqliteQueue::message_record(const std::string& message_id) {
    std::function<Result<json::value>(Db&)> fn = [message_id](Db& db) -> Result<json::value> {
        auto raw = message_json(db, message_id, now_ms());
        if (!raw) return fail(Errc::not_found);
        boost::system::error_code ec;
        json::value v = json::parse(*raw, ec);
        if (ec) return unavailable();
        return v;
    };
    Result<json::value> out = co_await on_reader<Result<json::value>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<json::value>> SqliteQueue::dossier_messages(
    const std::string& dossier_code) {
    std::function<Result<json::value>(Db&)> fn = [dossier_code](Db& db) -> Result<json::value> {
        auto now = now_ms();
        std::vector<std::string> ids;
        {
            auto st = db.query(
                "SELECT id FROM messages WHERE dossier_code = ?"
                " ORDER BY created_at DESC, id DESC LIMIT ?",
                dossier_code, limits::kDossierMessages);
            while (st.next()) ids.push_back(st.text(0));
        }
        return json::value(json::object{{"dossier_code", dossier_code},
                                        {"messages", fetch_messages(db, ids, now)}});
    };
    Result<json::value> out = co_await on_reader<Result<json::value>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<bool>> SqliteQueue::add_feedback(const FeedbackRecord& feedback,
                                                        const std::vector<Notice>& notices) {
    // Kept like message records: `retention` when set, else dedupe_ttl; its call-backs like
    // every other (dedupe_ttl), written in the same transaction.
    auto ttl = retention_.count() > 0 ? retention_.count() : dedupe_ttl_.count();
    std::function<Result<bool>(Db&)> fn =
        [id = feedback.id, dossier = feedback.dossier_code, at = feedback.submitted_at_ms,
         text = json::serialize(feedback.to_json()), ttl, notices,
         notice_ttl = dedupe_ttl_.count()](Db& db) -> Result<bool> {
        auto now = now_ms();
        {
            auto st = db.query("SELECT 1 FROM feedback WHERE id = ? AND expires_at > ?", id, now);
            if (st.next()) return false;
        }
        db.exec(
            "INSERT OR REPLACE INTO feedback (id, dossier_code, submitted_at, json, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            id, dossier, at, text, now + ttl);
        sqlite_detail::write_notices(db, notices, now, notice_ttl, nullptr);
        return true;
    };
    Result<bool> out = co_await on_writer<Result<bool>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<json::value>> SqliteQueue::dossier_feedback(
    const std::string& dossier_code) {
    std::function<Result<json::value>(Db&)> fn = [dossier_code](Db& db) -> Result<json::value> {
        json::array list;
        auto st = db.query(
            "SELECT json FROM feedback WHERE dossier_code = ? AND expires_at > ?"
            " ORDER BY submitted_at DESC, id DESC LIMIT ?",
            dossier_code, now_ms(), limits::kDossierFeedback);
        while (st.next()) {
            boost::system::error_code ec;
            auto v = json::parse(st.text(0), ec);
            if (!ec) list.push_back(std::move(v));
        }
        return json::value(
            json::object{{"dossier_code", dossier_code}, {"feedback", std::move(list)}});
    };
    Result<json::value> out = co_await on_reader<Result<json::value>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<UsageScan>> SqliteQueue::scan_usage(const UsageQuery& q,
                                                           UsageVisitor visit) {
    std::function<Result<UsageScan>(Db&)> fn =
        [q, visit = std::move(visit)](Db& db) -> Result<UsageScan> {
        UsageScan out;
        // messages_created serves the period; records past their retention are left out.
        auto st = db.query(
            "SELECT json FROM messages WHERE created_at >= ? AND created_at < ?"
            " AND expires_at > ? ORDER BY created_at LIMIT ?",
            q.from_ms, q.to_ms, now_ms(), static_cast<int64_t>(q.limit) + 1);
        while (st.next()) {
            if (out.records == q.limit) {
                out.truncated = true;
                break;
            }
            if (auto r = MessageRecord::from_json(st.text(0))) {
                visit(*r);
                ++out.records;
            }
        }
        if (db.failed()) return unavailable();
        return out;
    };
    Result<UsageScan> out = co_await on_reader<Result<UsageScan>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<std::vector<Spend>>> SqliteQueue::month_spend(const std::string& month) {
    std::function<Result<std::vector<Spend>>(Db&)> fn =
        [month](Db& db) -> Result<std::vector<Spend>> {
        std::map<std::string, Spend> by_agency;
        const std::string start = "spend:" + month + ":";
        auto st = db.query("SELECT key, value FROM state WHERE substr(key, 1, ?) = ?",
                           static_cast<int64_t>(start.size()), start);
        while (st.next()) {
            std::string rest = st.text(0).substr(start.size());  // "<what>:<agency>"
            auto colon = rest.find(':');
            if (colon == std::string::npos) continue;
            std::string what = rest.substr(0, colon), agency = rest.substr(colon + 1);
            Spend& sp = by_agency[agency];
            sp.month = month;
            sp.agency = agency;
            int64_t n = std::strtoll(st.text(1).c_str(), nullptr, 10);
            (what == "dong" ? sp.dong : sp.segments) = n;
        }
        if (db.failed()) return unavailable();
        std::vector<Spend> out;
        for (auto& [agency, sp] : by_agency) out.push_back(std::move(sp));
        return out;
    };
    Result<std::vector<Spend>> out =
        co_await on_reader<Result<std::vector<Spend>>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<json::value>> SqliteQueue::pending_reminders(std::size_t limit) {
    std::function<Result<json::value>(Db&)> fn = [limit](Db& db) -> Result<json::value> {
        auto now = now_ms();
        std::vector<std::string> ids;
        {
            // Reminder ids start with "r": a range of the primary key.
            auto st = db.query(
                "SELECT message_id FROM jobs WHERE message_id >= 'r' AND message_id < 's'"
                " ORDER BY due_ms, message_id LIMIT ?",
                limit);
            while (st.next()) ids.push_back(st.text(0));
        }
        return json::value(json::object{{"reminders", fetch_messages(db, ids, now)}});
    };
    Result<json::value> out = co_await on_reader<Result<json::value>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<StoreRead> SqliteQueue::get(std::string key) {
    std::function<StoreRead(Db&)> fn = [key = std::move(key)](Db& db) {
        StoreRead out;
        out.ok = true;
        auto st = db.query(
            "SELECT value FROM state WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)", key,
            now_ms());
        if (st.next()) out.value = st.text(0);
        return out;
    };
    StoreRead out = co_await on_reader<StoreRead>(std::move(fn), StoreRead{});
    co_return out;
}

asio::awaitable<bool> SqliteQueue::put(std::string key, std::string value) {
    std::function<bool(Db&)> fn = [key = std::move(key), value = std::move(value)](Db& db) {
        db.exec("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", key, value);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    co_return ok;
}

asio::awaitable<bool> SqliteQueue::put_for(std::string key, std::string value,
                                           std::chrono::milliseconds ttl) {
    std::function<bool(Db&)> fn = [key = std::move(key), value = std::move(value),
                                   ttl = ttl.count()](Db& db) {
        db.exec("INSERT OR REPLACE INTO state (key, value, expires_at) VALUES (?, ?, ?)", key,
                value, now_ms() + ttl);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    co_return ok;
}

asio::awaitable<bool> SqliteQueue::try_lock(std::string key, std::chrono::milliseconds ttl) {
    std::function<bool(Db&)> fn = [key = std::move(key), owner = consumer_,
                                   ttl = ttl.count()](Db& db) {
        auto now = now_ms();
        db.exec("DELETE FROM locks WHERE key = ? AND until_ms <= ?", key, now);
        db.exec("INSERT OR IGNORE INTO locks (key, owner, until_ms) VALUES (?, ?, ?)", key, owner,
                now + ttl);
        return db.changes() == 1;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    co_return ok;
}

asio::awaitable<void> SqliteQueue::unlock(std::string key) {
    std::function<bool(Db&)> fn = [key = std::move(key), owner = consumer_](Db& db) {
        db.exec("DELETE FROM locks WHERE key = ? AND owner = ?", key, owner);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    (void)ok;
}

asio::awaitable<bool> SqliteQueue::purge(int64_t older_than_ms) {
    std::function<bool(Db&)> fn = [older_than_ms, ttl = dedupe_ttl_.count()](Db& db) {
        auto now = now_ms();
        // Past dedupe_ttl these are invisible already (the Redis keys would have expired).
        db.exec("DELETE FROM events WHERE expires_at <= ?", now);
        db.exec("DELETE FROM messages WHERE expires_at <= ?", now);
        db.exec("DELETE FROM feedback WHERE expires_at <= ?", now);
        db.exec("DELETE FROM callbacks WHERE expires_at <= ?", now);
        db.exec("DELETE FROM webhooks WHERE expires_at <= ?", now);
        db.exec("DELETE FROM locks WHERE until_ms <= ?", now);
        db.exec("DELETE FROM state WHERE expires_at IS NOT NULL AND expires_at <= ?", now);
        db.exec("DELETE FROM entries WHERE acked = 1 AND created_at < ?", now - ttl);
        if (older_than_ms > 0) {
            auto cutoff = now - older_than_ms;
            db.exec("DELETE FROM messages WHERE created_at < ?", cutoff);
            db.exec("DELETE FROM events WHERE created_at < ?", cutoff);
            db.exec("DELETE FROM entries WHERE acked = 1 AND created_at < ?", cutoff);
            db.exec("DELETE FROM invalid WHERE at_ms < ?", cutoff);
            db.exec("DELETE FROM dead WHERE at_ms < ?", cutoff);
        }
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    co_return ok;
}

}  // namespace tinbao::queue
