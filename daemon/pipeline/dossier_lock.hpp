// Per-dossier order inside one process: the events and jobs of one dossier are worked on one
// after the other, in the order they asked for their turn. lock() waits for the turn and returns
// a Guard; the turn passes to the next waiter when the Guard goes out of scope.
//
// Threading: one io_context thread. The DossierLocks must outlive every Guard.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace tinbao {

class DossierLocks {
  public:
    class Guard {
      public:
        Guard(DossierLocks* locks, std::string code) : locks_(locks), code_(std::move(code)) {}
        Guard(Guard&& o) noexcept
            : locks_(std::exchange(o.locks_, nullptr)), code_(std::move(o.code_)) {}
        Guard& operator=(Guard&&) = delete;
        Guard(const Guard&) = delete;
        ~Guard() {
            if (locks_) locks_->unlock(code_);
        }

      private:
        DossierLocks* locks_;
        std::string code_;
    };

    explicit DossierLocks(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}

    // Waits until no other holder of `code` is left ahead of this one.
    boost::asio::awaitable<Guard> lock(std::string code);
    // Dossiers held right now (each with its queue of waiters).
    std::size_t held() const { return dossiers_.size(); }

  private:
    void unlock(const std::string& code);

    boost::asio::any_io_executor ex_;
    // Dossier held -> the turns waiting for it, in arrival order. A list, which allocates
    // nothing while nobody waits (a deque takes 576 bytes at once, for each dossier held).
    std::map<std::string, std::list<std::shared_ptr<boost::asio::steady_timer>>, std::less<>>
        dossiers_;
};

}  // namespace tinbao
