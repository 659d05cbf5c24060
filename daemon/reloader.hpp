// Reloads off the event loop. Loading a config reads files and compiles templates (no network
// I/O), so it runs on a thread the Reloader owns, one reload at a time; its outcome is handed to
// `done` on the event loop. The Reloader outlives every reload it starts: destroying it waits
// for the load in flight and drops its outcome, so `done` never runs once the Reloader (and the
// object that owns it and that `done` uses) is gone, and the dropped runtime is released then,
// not later by the loop.
//
// Threading: start() and the destructor on the loop's thread (or after the loop stopped); the
// load on the Reloader's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tinbao {

struct Runtime;

class Reloader {
  public:
    struct Outcome {
        std::shared_ptr<Runtime> runtime;  // null when refused
        std::vector<std::string> problems;
    };
    using Load = std::function<Outcome()>;
    using Done = std::function<void(Outcome)>;

    explicit Reloader(boost::asio::any_io_executor loop);
    ~Reloader();
    Reloader(const Reloader&) = delete;
    Reloader& operator=(const Reloader&) = delete;

    // Runs `load` on the Reloader's thread, then `done` on the loop. False, and nothing started,
    // while a reload is in flight. A load that throws is refused with the exception's message.
    bool start(Load load, Done done);
    bool busy() const;

  private:
    struct State;
    boost::asio::any_io_executor loop_;
    std::shared_ptr<State> state_;
    std::thread worker_;
};

}  // namespace tinbao
