#include "daemon/reloader.hpp"

#include <boost/asio/post.hpp>
#include <exception>
#include <mutex>
#include <optional>

namespace tinbao {

struct Reloader::State {
    std::mutex mutex;
    std::optional<Outcome> outcome;  // set by the worker, taken on the loop
    Done done;                       // loop only
    bool busy = false;               // loop only
};

Reloader::Reloader(boost::asio::any_io_executor loop)
    : loop_(std::move(loop)), state_(std::make_shared<State>()) {}

Reloader::~Reloader() {
    // The load in flight finishes (it is bounded: files and templates); its outcome goes with
    // the state, and the completion already posted finds the state gone.
    if (worker_.joinable()) worker_.join();
}

bool Reloader::busy() const { return state_->busy; }

bool Reloader::start(Load load, Done done) {
    if (state_->busy) return false;
    // The previous worker has posted its outcome and is ending, if not already gone.
    if (worker_.joinable()) worker_.join();
    state_->busy = true;
    state_->done = std::move(done);
    State* state = state_.get();  // outlives the worker: the destructor joins it first
    worker_ = std::thread(
        [state, weak = std::weak_ptr<State>(state_), load = std::move(load), loop = loop_] {
            Outcome outcome;
            try {
                outcome = load();
            } catch (const std::exception& e) {
                outcome = Outcome{nullptr, {std::string("reload failed: ") + e.what()}};
            }
            {
                std::lock_guard lock(state->mutex);
                state->outcome = std::move(outcome);
            }
            boost::asio::post(loop, [weak] {
                auto s = weak.lock();
                if (!s) return;  // the Reloader is gone, and with it whatever `done` would touch
                std::optional<Outcome> taken;
                {
                    std::lock_guard lock(s->mutex);
                    taken.swap(s->outcome);
                }
                s->busy = false;
                auto finish = std::move(s->done);
                s->done = nullptr;
                if (taken && finish) finish(std::move(*taken));
            });
        });
    return true;
}

}  // namespace tinbao
