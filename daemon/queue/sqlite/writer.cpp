#include "daemon/queue/sqlite/writer.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <vector>

namespace tinbao::queue::sqlite_detail {

Worker::Worker(std::unique_ptr<Db> db, const char* begin_sql)
    : db_(std::move(db)), begin_(begin_sql), thread_([this] { loop(); }) {}

Worker::~Worker() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
}

void Worker::submit(Task t) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_) {
            tasks_.push_back(std::move(t));
            cv_.notify_one();
            return;
        }
    }
    t.done(false);
}

void Worker::loop() {
    for (;;) {
        std::deque<Task> batch;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
            if (tasks_.empty()) return;  // stopping, nothing left
            batch.swap(tasks_);
        }
        run_batch(batch);
    }
}

void Worker::run_batch(std::deque<Task>& batch) {
    auto& db = *db_;
    const int64_t changes_before = db.total_changes();
    std::vector<char> ok(batch.size(), 0);
    bool began = db.raw(begin_);
    if (!began) spdlog::error("queue: sqlite {}: cannot begin: {}", db.name(), db.error());
    for (size_t i = 0; began && i < batch.size(); ++i) {
        // Each operation in its own savepoint: a failing one leaves the others intact.
        db.clear();
        if (!db.raw("SAVEPOINT op")) break;
        try {
            batch[i].run(db);
        } catch (const std::exception& e) {
            // Out of memory and the like: this operation fails, the thread carries on.
            db.fail(e.what());
        }
        if (db.failed()) {
            spdlog::warn("queue: sqlite {}: {}", db.name(), db.error());
            db.raw("ROLLBACK TO op");
        } else {
            ok[i] = 1;
        }
        db.raw("RELEASE op");
    }
    db.clear();
    bool committed = began && db.raw("COMMIT");
    if (began && !committed) {
        spdlog::error("queue: sqlite {}: commit failed: {}", db.name(), db.error());
        db.raw("ROLLBACK");
    }
    if (db.take_storage_error())
        healthy_ = false;
    else if (committed && db.total_changes() > changes_before)
        healthy_ = true;
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(committed && ok[i]);
}

}  // namespace tinbao::queue::sqlite_detail
