#include "daemon/pipeline/dossier_lock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;

namespace tinbao {

asio::awaitable<DossierLocks::Guard> DossierLocks::lock(std::string code) {
    auto it = dossiers_.find(code);
    if (it == dossiers_.end()) {
        dossiers_.emplace(code, std::list<std::shared_ptr<asio::steady_timer>>{});
        co_return Guard(this, std::move(code));
    }
    auto turn = std::make_shared<asio::steady_timer>(ex_, asio::steady_timer::time_point::max());
    it->second.push_back(turn);
    co_await turn->async_wait(asio::as_tuple(asio::use_awaitable));  // woken by unlock()
    co_return Guard(this, std::move(code));
}

void DossierLocks::unlock(const std::string& code) {
    auto it = dossiers_.find(code);
    if (it == dossiers_.end()) return;
    if (it->second.empty()) {
        dossiers_.erase(it);
        return;
    }
    // The turn passes to the next waiter: the dossier stays held, now by it.
    auto next = std::move(it->second.front());
    it->second.pop_front();
    next->cancel();
}

}  // namespace tinbao
