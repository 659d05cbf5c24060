// What the two halves of SqliteQueue share (sqlite_queue.cpp: lifecycle and the write paths;
// sqlite_lookups.cpp: lookups, dead letters, the StateStore, purge): the helpers that read
// stored rows, and on_writer / on_reader. Private to the SQLite queue; nothing else includes it.
//
// Threading: the helpers taking a Db run on a worker thread, inside a task; on_writer and
// on_reader are awaited on the io_context.
#pragma once

#include <boost/json/array.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/model/rules.hpp"
#include "daemon/queue/sqlite/connection.hpp"
#include "daemon/queue/sqlite/sqlite_queue.hpp"
#include "daemon/queue/sqlite/writer.hpp"

namespace tinbao::queue {

namespace sqlite_detail {

std::optional<int64_t> entry_number(std::string_view id);
// The stored record of a message still within its TTL.
std::optional<std::string> message_json(Db& db, const std::string& id, int64_t now);
// The event's state from the states of its messages still kept (the rule: model/rules.hpp).
std::string stored_event_state(Db& db, const std::string& msgs, int64_t now);
// The dossier's notices that wait for a scheduled attempt (queued, with a job).
std::vector<WaitingNotice> waiting_of(Db& db, const std::string& dossier, int64_t now);
// Stored records of these ids in order; expired or missing ones left out.
boost::json::array fetch_messages(Db& db, const std::vector<std::string>& ids, int64_t now);
std::string last_error_reason(const std::string& record_json);
// Queues the call-backs of `notices` (a status stream is Redis's only). `settled`: the event's
// state when the write settles the event (the notices that wait for it are written), else null.
void write_notices(Db& db, const std::vector<Notice>& notices, int64_t now, int64_t ttl,
                   const std::string* settled);
// The state row of one figure of an agency's spend in a month: "spend:2026-12:dong:<agency>".
inline std::string spend_key(std::string_view month, std::string_view agency,
                             std::string_view what) {
    std::string k = "spend:";
    k.append(month).append(":").append(what).append(":").append(agency);
    return k;
}

}  // namespace sqlite_detail

template <class R>
boost::asio::awaitable<R> SqliteQueue::on_writer(std::function<R(sqlite_detail::Db&)> fn, R fail) {
    R r = co_await sqlite_detail::run_on<R>(io_, *writer_, std::move(fn), std::move(fail));
    co_return r;
}

template <class R>
boost::asio::awaitable<R> SqliteQueue::on_reader(std::function<R(sqlite_detail::Db&)> fn, R fail) {
    R r = co_await sqlite_detail::run_on<R>(io_, *reader_, std::move(fn), std::move(fail));
    co_return r;
}

}  // namespace tinbao::queue
