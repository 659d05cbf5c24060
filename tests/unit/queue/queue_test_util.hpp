// Helpers shared by the queue tests: drive a coroutine on a local io_context to completion, and
// build events, records and commits.
//
// Threading: each test owns its io_context and runs it on the test's thread.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <string>

#include "daemon/queue/queue.hpp"

namespace tinbao::test {

// The queue's answers in the shapes the tests compare (an outcome, a lookup with its status,
// a claim with its kind), so an expectation reads as one line.
enum class IngestOutcome { accepted, duplicate, unavailable };

inline IngestOutcome outcome_of(const Result<void>& r) {
    if (r) return IngestOutcome::accepted;
    return r.error() == Errc::duplicate ? IngestOutcome::duplicate : IngestOutcome::unavailable;
}

struct Lookup {
    enum class Status { found, not_found, unavailable } status = Status::not_found;
    boost::json::value value;
};

inline Lookup lookup(Result<boost::json::value> r) {
    Lookup out;
    if (r) {
        out.status = Lookup::Status::found;
        out.value = std::move(*r);
    } else {
        out.status = r.error() == Errc::not_found ? Lookup::Status::not_found
                                                  : Lookup::Status::unavailable;
    }
    return out;
}

struct Claimed : queue::Claim {
    enum class Kind { process, duplicate, unavailable } kind = Kind::unavailable;
};

inline Claimed claimed(Result<queue::Claim> r) {
    Claimed out;
    if (r) {
        static_cast<queue::Claim&>(out) = std::move(*r);
        out.kind = Claimed::Kind::process;
    } else {
        out.kind = r.error() == Errc::duplicate ? Claimed::Kind::duplicate
                                                : Claimed::Kind::unavailable;
    }
    return out;
}

// Runs `a` on `io` until it finishes (other work on `io`, such as a Redis connection, stays
// pending for the next call). Fails the test when it does not finish within 10 s.
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> a) {
    std::optional<T> out;
    std::exception_ptr error;
    bool finished = false;
    boost::asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
        error = e;
        out = std::move(v);
        finished = true;
    });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    io.restart();
    while (!finished && std::chrono::steady_clock::now() < deadline)
        io.run_one_for(std::chrono::milliseconds(50));
    if (error) std::rethrow_exception(error);
    if (!finished) throw std::runtime_error("the operation did not finish within 10 s");
    return std::move(*out);
}

inline void run(boost::asio::io_context& io, boost::asio::awaitable<void> a) {
    std::exception_ptr error;
    bool finished = false;
    boost::asio::co_spawn(io, std::move(a), [&](std::exception_ptr e) {
        error = e;
        finished = true;
    });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    io.restart();
    while (!finished && std::chrono::steady_clock::now() < deadline)
        io.run_one_for(std::chrono::milliseconds(50));
    if (error) std::rethrow_exception(error);
    if (!finished) throw std::runtime_error("the operation did not finish within 10 s");
}

inline Event make_event(const std::string& id, const std::string& dossier = "D-1",
                        const std::string& status = "received") {
    Event ev;
    ev.event_id = id;
    ev.dossier_code = dossier;
    ev.status = status;
    ev.original_status = status;
    ev.phone = "0912345678";
    ev.json = boost::json::object{{"event_id", id}, {"dossier_code", dossier}};
    return ev;
}

inline std::string payload_of(const Event& ev) {
    return R"({"event_id":")" + ev.event_id + R"(","dossier":")" + ev.dossier_code + R"("})";
}

inline MessageRecord make_record(const std::string& id, const Event& ev,
                                 std::string_view st = state::kQueued, int64_t created = 0) {
    MessageRecord m;
    m.id = id;
    m.event_id = ev.event_id;
    m.dossier_code = ev.dossier_code;
    m.channel = "sms";
    m.provider = "esms";
    m.to = "84912345678";
    m.state = st;
    m.created_at_ms = created ? created : now_ms();
    m.updated_at_ms = m.created_at_ms;
    m.body = "Hồ sơ " + ev.dossier_code + " đã được tiếp nhận";
    m.encoding = "ucs2";
    m.segments = 1;
    return m;
}

inline queue::Commit make_commit(const Event& ev, std::vector<MessageRecord> msgs,
                                 const queue::Entry* ack = nullptr) {
    queue::Commit c;
    c.ack = ack;
    c.event_id = ev.event_id;
    c.dossier_code = ev.dossier_code;
    c.status = ev.status;
    c.messages = std::move(msgs);
    return c;
}

}  // namespace tinbao::test
