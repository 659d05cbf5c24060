// The delivery pipeline's loops: reading the queue's entries, running the jobs that come due,
// and keeping this instance's entries its own. Each entry is an event: the planner turns it into
// messages, attempt() works on each one, a failed or expired message may fall back to the next
// channel, and the outcome is committed to the queue before the entry is acknowledged
// (at-least-once; providers deduplicate a resend by the deterministic message id).
//
// Threading: one io_context thread. Ownership: the Processor holds the current Runtime by
// shared_ptr; work in progress keeps the Runtime it started with, so a reload never pulls a
// provider from under a send. The clock (the system's in the daemon) outlives the Processor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/pipeline/attempt.hpp"
#include "daemon/pipeline/clock.hpp"
#include "daemon/pipeline/dossier_lock.hpp"
#include "daemon/pipeline/job_codec.hpp"
#include "daemon/pipeline/metrics.hpp"
#include "daemon/pipeline/planner.hpp"
#include "daemon/pipeline/reminders.hpp"
#include "daemon/pipeline/retry_policy.hpp"
#include "daemon/pipeline/runtime.hpp"
#include "daemon/queue/queue.hpp"

namespace tinbao {

class Processor {
  public:
    // `clock` and `jitter` are the system's in the daemon; tests pass their own.
    Processor(boost::asio::io_context& io, queue::Queue& queue, std::shared_ptr<const Runtime> rt,
              Clock& clock = Clock::system(), Jitter jitter = random_jitter());

    void set_runtime(std::shared_ptr<const Runtime> rt) {
        runtime_ = std::move(rt);
        max_active_ = active_limit(*runtime_);
        queue_.set_coalescing(runtime_->config->coalesce_window.count() > 0);
    }
    // Events and jobs worked on at once: enough to keep every provider's max_in_flight busy,
    // a quarter more for those waiting on a rate limit or their commit, and at least 2048.
    static std::size_t active_limit(const Runtime& rt);
    std::shared_ptr<const Runtime> runtime() const { return runtime_; }

    // Starts the stream consumer, the scheduler of due jobs and the heartbeat.
    void start();
    // Stops taking new work; work in progress goes on until drained() or the process exits.
    void stop();
    bool drained() const { return active_.empty(); }
    std::size_t active() const { return active_.size(); }
    const PipelineStats& stats() const { return stats_; }
    int instances() const { return instances_; }
    const Budgets& budgets() const { return budgets_; }
    const Metrics& metrics() const { return metrics_; }
    Metrics& metrics() { return metrics_; }

    // Handles one stream entry (public for tests). `seq`: schedule_seq_ when the entry was
    // taken (an entry claimed at ingest is claimed again if a job, not a reminder, was scheduled
    // since).
    boost::asio::awaitable<void> handle(queue::Entry entry, uint64_t seq = 0);
    // Handles one due job (public for tests).
    boost::asio::awaitable<void> run_job(queue::DueJob job);
    // Puts dead letters back in the schedule (by id, or all with `reason`); the number replayed,
    // or -1 when the queue did not answer.
    boost::asio::awaitable<int> replay(std::vector<std::string> ids, std::string reason);
    // Cancels pending reminders by id (the operator's `tinbaoctl reminders cancel`): the ids
    // cancelled (others were no pending reminder), or nullopt when the queue did not answer.
    boost::asio::awaitable<std::optional<std::vector<std::string>>> cancel_reminders(
        std::vector<std::string> ids, std::string why);

  private:
    // Marks one entry or job in progress (active_) for as long as it lives.
    class InProgress;

    boost::asio::awaitable<void> wait_for_instances();
    boost::asio::awaitable<void> consume();
    // Entries the queue hands over as they are ingested (queue::Handoff).
    std::size_t handoff_room() const;
    void take(std::vector<queue::Entry> entries);
    boost::asio::awaitable<void> schedule_loop();
    boost::asio::awaitable<void> heartbeat();
    // Reads the month's spend of the agencies from the queue; logs and counts the budget
    // thresholds crossed.
    boost::asio::awaitable<void> refresh_budgets(const Runtime& rt);
    void budget_crossings(const Config& cfg, const std::string& month);
    // A sent message's cost and segments, added to its agency's spend of the month.
    void add_spend(const Runtime& rt, const MessageRecord& rec, queue::Commit& c);
    // The claim of an entry, asked again while the queue does not answer (the entry is this
    // instance's: nobody else takes it over while it is kept alive); fails with
    // Errc::duplicate, or Errc::queue_unavailable once stopping.
    boost::asio::awaitable<Result<queue::Claim>> claim(const queue::Entry& entry,
                                                       const Event& event,
                                                       const std::vector<MessageRecord>& initial);
    // Of an entry's planned messages: those an earlier run started (settled, or attempted) and
    // until when an earlier notice of the dossier holds them back. Fails as claim() does.
    struct Claimed {
        std::vector<bool> started;
        int64_t blocked_until_ms = 0;
    };
    boost::asio::awaitable<Result<Claimed>> claim_planned(const queue::Entry& entry, uint64_t seq,
                                                          const Event& event, const Plan& plan);
    // The event of an entry; null when the entry holds none (`why` says why).
    std::shared_ptr<const Event> read_event(const queue::Entry& entry, std::string& why) const;
    // Attempts `w` (and, in fallback mode, the next channels) and adds the outcome to `c`.
    boost::asio::awaitable<void> run_message(std::shared_ptr<const Runtime> rt, Work& w,
                                             queue::Commit& c);
    // The message's final outcome: counted once, and handed to the next channel when the route
    // falls back (true: `w` now holds the next channel's message).
    bool settle_message(const Runtime& rt, Work& w, queue::Commit& c);
    // A due job made ready to run: nullopt when it cannot or need not run (`c` says why).
    std::optional<Work> open_job(const queue::DueJob& due, queue::Commit& c);
    // Coalescing and per-dossier order, checked again when the job comes due: false when the
    // job does not run now (its outcome is in `c`).
    boost::asio::awaitable<bool> ready_to_run(const Runtime& rt, const queue::DueJob& due, Work& w,
                                              queue::Commit& c);
    boost::asio::awaitable<void> commit(queue::Commit& c);
    // Reminders: those the event schedules (rules on its status), and those of its dossier it
    // makes moot (rules whose cancel_on has its status). Nothing at all when no rule names the
    // status.
    boost::asio::awaitable<void> schedule_reminders(const Runtime& rt, const queue::Entry& entry,
                                                    const std::shared_ptr<const Event>& event);
    boost::asio::awaitable<void> cancel_moot_reminders(const Runtime& rt, const Event& event);
    // Marks a pending reminder's record cancelled and takes its job out, in one commit.
    boost::asio::awaitable<void> cancel_reminder(MessageRecord rec, const std::string& detail);
    // The message of `w` on `channel`, planned again: a reminder from its rule's template.
    PlannedMessage plan_for(const Runtime& rt, const Work& w, Channel channel, int64_t now) const;
    // After a reminder's occurrence settled: the next one, when the rule repeats it.
    void schedule_next_occurrence(const Runtime& rt, const Work& w, queue::Commit& c);
    // Waits before asking the queue again after it did not answer: 200 ms, doubling to 5 s.
    boost::asio::awaitable<void> back_off(std::chrono::milliseconds& delay);
    std::optional<std::string> canonical(std::string_view status) const;
    void finished(const std::string& key);

    boost::asio::io_context& io_;
    queue::Queue& queue_;
    std::shared_ptr<const Runtime> runtime_;
    Clock& clock_;
    bool running_ = false;
    bool stopping_ = false;
    std::set<std::string> active_;  // stream entry ids and "job:<id>" in progress
    std::size_t max_active_ = 2048;
    uint64_t schedule_seq_ = 0;                        // commits that scheduled a job, so far
    std::shared_ptr<boost::asio::steady_timer> room_;  // woken when active_ shrinks
    PipelineStats stats_;
    Metrics metrics_;
    Budgets budgets_;
    AttemptContext attempt_ctx_;
    int instances_ = 1;
    bool instances_known_ = false;
    DossierLocks dossiers_;  // events of one dossier one after the other, in order
    std::shared_ptr<boost::asio::steady_timer> instances_ready_;
};

}  // namespace tinbao
