// Runs the pipeline on a real SQLite queue in a temporary folder, with a clock the test moves,
// a jitter it chooses and providers it scripts. No Redis, no sleeps: the test moves the clock
// to each scheduled job's due time and runs the job itself.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/pipeline/processor.hpp"
#include "daemon/queue/sqlite/sqlite_queue.hpp"
#include "tests/unit/pipeline/manual_clock.hpp"

namespace tinbao::testing {

namespace asio = boost::asio;

// A provider that answers from a script (success when the script is empty) and can hold
// requests until the test answers them.
class FakeProvider : public Provider {
  public:
    FakeProvider(asio::io_context& io, std::string name, Channel channel)
        : Provider(settings_for(std::move(name), channel)), io_(io) {}

    asio::awaitable<SendResult> send(const OutboundMessage& m) override {
        requests.push_back(m);
        if (hold > 0) {
            --hold;
            auto p = std::make_shared<Held>(io_);
            held_.push_back(p);
            co_await p->timer.async_wait(asio::as_tuple(asio::use_awaitable));
            co_return p->result;
        }
        if (!script.empty()) {
            auto r = script.front();
            script.pop_front();
            co_return r;
        }
        co_return SendResult::success("pm-" + m.id);
    }
    // Answers the oldest held request.
    void answer(SendResult r) {
        auto p = held_.front();
        held_.pop_front();
        p->result = std::move(r);
        p->timer.cancel();
    }
    std::size_t held() const { return held_.size(); }
    // The adapter's own rewriting of SMS text (Provider::sms_text), when a test sets one.
    std::string sms_text(std::string_view text) const override {
        return rewrite ? rewrite(text) : std::string(text);
    }

    std::function<std::string(std::string_view)> rewrite;

    std::deque<SendResult> script;
    int hold = 0;  // the next `hold` requests wait for answer()
    std::vector<OutboundMessage> requests;

  private:
    struct Held {
        explicit Held(asio::io_context& io) : timer(io, asio::steady_timer::time_point::max()) {}
        asio::steady_timer timer;
        SendResult result;
    };
    static ProviderSettings settings_for(std::string name, Channel channel) {
        ProviderSettings s;
        s.name = std::move(name);
        s.type = "fake";
        s.channel = channel;
        return s;
    }
    asio::io_context& io_;
    std::deque<std::shared_ptr<Held>> held_;
};

inline SendResult retryable(std::string reason = "provider_unavailable") {
    return SendResult::fail(FailureClass::retryable, std::move(reason), "503");
}
inline SendResult permanent(std::string reason) {
    return SendResult::fail(FailureClass::permanent, std::move(reason), "refused");
}

class PipelineTest : public ::testing::Test {
  protected:
    PipelineTest()
        : dir_(std::filesystem::temp_directory_path() /
               ("tinbao-pipeline-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name())),
          clock_(real_now_ms()) {
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        queue_ = std::make_unique<queue::SqliteQueue>(io_, dir_ / "queue.db",
                                                      std::chrono::hours(24), "test");
        queue_->start();
        cfg_.routes.push_back(
            Route{{"result_ready"}, {Channel::sms, Channel::email}, Route::Mode::fallback, 1});
        cfg_.retry.max_attempts = 3;
        cfg_.retry.initial_delay = std::chrono::milliseconds(2000);
        cfg_.retry.max_delay = std::chrono::milliseconds(60000);
        cfg_.retry.give_up_after = std::chrono::hours(1);
    }
    ~PipelineTest() override {
        queue_->stop();
        if (HasFailure()) {
            // Work a failing test left waiting refers to all of these: they stay until the
            // process ends rather than be destroyed under it.
            (void)io_owner_.release();
            (void)processor_.release();
            (void)queue_.release();
            (void)new std::vector<std::shared_ptr<ProviderSlot>>(std::move(slots_));
            return;
        }
        io_.restart();
        io_.poll();
        processor_.reset();
        queue_.reset();
        if (db_) sqlite3_close(db_);
        std::filesystem::remove_all(dir_);
    }

    static int64_t real_now_ms() {
        using namespace std::chrono;
        return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    }

    FakeProvider& add_provider(std::string name, Channel channel, BreakerSettings breaker = {},
                               int max_in_flight = 0) {
        auto slot = std::make_shared<ProviderSlot>();
        auto p = std::make_unique<FakeProvider>(io_, std::move(name), channel);
        auto& ref = *p;
        slot->provider = std::move(p);
        slot->limiter = std::make_unique<Limiter>(io_.get_executor(), 0, max_in_flight, clock_);
        slot->breaker = CircuitBreaker(breaker);
        slots_.push_back(slot);
        return ref;
    }
    ProviderSlot& slot(std::size_t i) { return *slots_.at(i); }

    // Builds the processor from the config and providers set so far.
    Processor& processor() {
        if (!processor_) {
            auto rt = std::make_shared<Runtime>();
            rt->config = std::make_shared<const Config>(cfg_);
            std::vector<tpl::Error> errors;
            rt->templates = tpl::TemplateSet::load(TINBAO_SOURCE_DIR "/templates", errors);
            EXPECT_TRUE(errors.empty());
            rt->providers = slots_;
            processor_ = std::make_unique<Processor>(io_, *queue_, rt, clock_,
                                                     [this](int64_t max) { return jitter(max); });
        }
        return *processor_;
    }
    // The random draw of the backoff: the longest unless a test says otherwise.
    std::function<int64_t(int64_t)> jitter = [](int64_t max) { return max; };

    static std::string event_json(const std::string& id, const std::string& dossier,
                                  const std::string& phone = "0912345678",
                                  const std::string& email = "a@example.vn") {
        return R"({"event_id":")" + id + R"(","occurred_at":"2026-11-27T08:15:00+07:00",)" +
               R"("dossier":{"code":")" + dossier + R"(","status":"result_ready"},)" +
               R"("applicant":{"name":"Nguyen Van A","phone":")" + phone + R"(","email":")" +
               email + R"("}})";
    }

    // Runs `a` on the io_context until it completes; false when it is still waiting (on the
    // clock, a held request) once nothing else can run.
    bool finish(asio::awaitable<void> a) {
        auto done = std::make_shared<bool>(false);
        asio::co_spawn(
            io_,
            [a = std::move(a), done]() mutable -> asio::awaitable<void> {
                co_await std::move(a);
                *done = true;
            },
            asio::detached);
        settle([&] { return *done; });
        return *done;
    }
    // Runs handlers until `until` holds or nothing more happens for a while (the SQLite writer
    // answers from its thread, so idle is judged by a pause in handlers).
    void settle(const std::function<bool()>& until = [] { return false; }) {
        io_.restart();
        while (!until()) {
            if (io_.run_one_for(std::chrono::milliseconds(300)) == 0) break;
        }
    }

    // Posts an event and hands its entry to the processor; true when handling completed.
    bool post(const std::string& json) { return finish(post_async(json)); }
    // Starts handling the event without waiting for it to complete.
    void start_post(const std::string& json) {
        asio::co_spawn(io_, post_async(json), asio::detached);
        settle();
    }
    asio::awaitable<void> post_async(std::string json) {
        auto parsed =
            parse_event(json, [&](std::string_view s) { return cfg_.canonical_status(s); });
        EXPECT_TRUE(parsed.event) << json;
        auto& p = processor();
        co_await queue_->ingest(*parsed.event, json);
        auto entries = co_await queue_->read(1, std::chrono::milliseconds(0));
        EXPECT_TRUE(entries);
        if (!entries) co_return;
        EXPECT_EQ(entries->size(), 1u);
        for (auto& e : *entries) co_await p.handle(e);
    }

    sqlite3* db() {
        if (!db_) {
            EXPECT_EQ(sqlite3_open((dir_ / "queue.db").c_str(), &db_), SQLITE_OK);
        }
        return db_;
    }
    void exec(const std::string& sql) {
        char* err = nullptr;
        EXPECT_EQ(sqlite3_exec(db(), sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
            << (err ? err : "");
        sqlite3_free(err);
    }
    struct Scheduled {
        std::string message_id;
        int64_t due_ms = 0;
        std::string payload;
    };
    // The scheduled jobs, earliest first.
    std::vector<Scheduled> scheduled() {
        std::vector<Scheduled> out;
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db(), "SELECT message_id, due_ms, payload FROM jobs ORDER BY due_ms", -1,
                           &st, nullptr);
        while (sqlite3_step(st) == SQLITE_ROW)
            out.push_back({reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                           sqlite3_column_int64(st, 1),
                           reinterpret_cast<const char*>(sqlite3_column_text(st, 2))});
        sqlite3_finalize(st);
        return out;
    }
    std::optional<MessageRecord> record(const std::string& message_id) {
        std::optional<MessageRecord> out;
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db(), "SELECT json FROM messages WHERE id = ?", -1, &st, nullptr);
        sqlite3_bind_text(st, 1, message_id.c_str(), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            out =
                MessageRecord::from_json(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
        sqlite3_finalize(st);
        return out;
    }
    // Every message record of an event, in creation order.
    std::vector<MessageRecord> records_of(const std::string& event_id) {
        std::vector<std::string> ids;
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db(),
                           "SELECT id FROM messages WHERE event_id = ? ORDER BY created_at, id", -1,
                           &st, nullptr);
        sqlite3_bind_text(st, 1, event_id.c_str(), -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW)
            ids.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
        sqlite3_finalize(st);
        std::vector<MessageRecord> out;
        for (auto& id : ids)
            if (auto r = record(id)) out.push_back(*r);
        return out;
    }

    // Runs the earliest scheduled job at its due time; false when none is scheduled.
    bool run_next_job() {
        auto jobs = scheduled();
        if (jobs.empty()) return false;
        auto& j = jobs.front();
        clock_.advance_to(j.due_ms);
        queue::DueJob due{queue::Job{j.message_id, j.payload, j.due_ms}, record(j.message_id)};
        EXPECT_TRUE(finish(processor().run_job(std::move(due))));
        return true;
    }
    // Runs scheduled jobs in due order until none is left (at most `max`).
    int run_jobs(int max = 50) {
        int n = 0;
        while (n < max && run_next_job()) ++n;
        return n;
    }

    // The value of one series in the processor's metrics, exactly as labelled.
    double metric(const std::string& series) {
        auto text = processor().metrics().render();
        std::size_t pos = 0;
        while (pos < text.size()) {
            auto end = text.find('\n', pos);
            if (end == std::string::npos) end = text.size();
            std::string line = text.substr(pos, end - pos);
            pos = end + 1;
            if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
                line[series.size()] == ' ')
                return std::stod(line.substr(series.size() + 1));
        }
        return 0;
    }

    std::filesystem::path dir_;
    std::unique_ptr<asio::io_context> io_owner_ = std::make_unique<asio::io_context>();
    asio::io_context& io_ = *io_owner_;
    ManualClock clock_;
    Config cfg_;
    std::unique_ptr<queue::SqliteQueue> queue_;
    std::vector<std::shared_ptr<ProviderSlot>> slots_;
    std::unique_ptr<Processor> processor_;
    sqlite3* db_ = nullptr;
};

}  // namespace tinbao::testing
