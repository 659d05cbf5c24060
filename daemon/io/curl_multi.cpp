#include "daemon/io/curl_multi.hpp"

#include "daemon/io/curl_transfer.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace tinbao {

namespace asio = boost::asio;

namespace {

using curl::Completion;
using curl::Handler;
using curl::MailHandler;
using curl::Transfer;

template <typename R, typename H>
class CompletionFor final : public Completion<R> {
  public:
    CompletionFor(H handler, const asio::any_io_executor& fallback)
        : handler_(std::move(handler)),
          work_(asio::make_work_guard(asio::get_associated_executor(handler_, fallback))) {}

    void complete(R result) override {
        auto ex = work_.get_executor();
        asio::post(ex, asio::append(std::move(handler_), std::move(result)));
        work_.reset();
    }

  private:
    H handler_;
    asio::executor_work_guard<asio::associated_executor_t<H, asio::any_io_executor>> work_;
};

void global_init_once() {
    // A function-local static runs curl_global_init exactly once, thread-safely, before the
    // first multi handle exists.
    static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    (void)rc;
}

// A socket libcurl opened, watched by Asio. The descriptor never owns the fd: it is released
// (which deregisters it from the reactor) before libcurl closes it.
struct WatchedSocket {
    WatchedSocket(const asio::any_io_executor& ex) : descriptor(ex) {}
    asio::posix::stream_descriptor descriptor;
    curl_socket_t fd = CURL_SOCKET_BAD;
    int what = CURL_POLL_NONE;
    bool reading = false;
    bool writing = false;
    bool closed = false;
};

}  // namespace

struct CurlMulti::Impl : std::enable_shared_from_this<CurlMulti::Impl> {
    Impl(asio::any_io_executor ex, CurlMultiOptions opts)
        : executor(std::move(ex)), options(std::move(opts)), timer(executor) {
        global_init_once();
        multi = curl_multi_init();
        if (!multi) throw std::runtime_error("curl_multi_init failed");
        curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::socket_callback);
        curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
        curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::timer_callback);
        curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
        if (options.max_host_connections > 0)
            curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, options.max_host_connections);
        if (options.max_total_connections > 0)
            curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, options.max_total_connections);
        if (options.connection_cache > 0)
            curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, options.connection_cache);
    }

    ~Impl() { shutdown(); }

    void start(HttpRequest request, Handler handler) {
        auto t = std::make_unique<Transfer>();
        t->request = std::move(request);
        t->max_body = options.max_response_bytes;
        t->handler = std::move(handler);
        launch(std::move(t), [this](Transfer& x) { return curl::configure_http(x, options); });
    }

    void start_mail(MailRequest request, MailHandler handler) {
        auto t = std::make_unique<Transfer>();
        t->mail = std::move(request);
        t->mail_handler = std::move(handler);
        launch(std::move(t), [this](Transfer& x) { return curl::configure_mail(x, options); });
    }

    // Configures the transfer and adds it to the multi handle, or completes it with the reason
    // it cannot start.
    template <class Configure>
    void launch(std::unique_ptr<Transfer> t, Configure configure_transfer) {
        if (stopping) {
            fail(std::move(t), "client shut down");
            return;
        }
        if (auto problem = configure_transfer(*t); !problem.empty()) {
            fail(std::move(t), problem);
            return;
        }
        CURL* easy = t->easy;
        transfers.emplace(easy, std::move(t));
        // add_handle calls the timer callback, which only posts a kick or arms the timer: the
        // transfer starts from the loop, not from inside this call.
        if (CURLMcode mc = curl_multi_add_handle(multi, easy); mc != CURLM_OK) {
            auto it = transfers.find(easy);
            auto owned = std::move(it->second);
            transfers.erase(it);
            fail(std::move(owned), curl_multi_strerror(mc));
        }
    }

    void fail(std::unique_ptr<Transfer> t, std::string text) {
        if (t->mail_handler) {
            MailResult result;
            result.error = MailResult::Error::other;
            result.error_text = std::move(text);
            t->mail_handler->complete(std::move(result));
            return;
        }
        HttpResponse resp;
        resp.error = HttpResponse::Error::other;
        resp.error_text = std::move(text);
        complete(std::move(t), std::move(resp));
    }

    // Hands the answer to the waiting coroutine through its executor, never inline.
    void complete(std::unique_ptr<Transfer> t, HttpResponse resp) {
        t->handler->complete(std::move(resp));
    }

    void finish(CURL* easy, CURLcode rc) {
        auto it = transfers.find(easy);
        if (it == transfers.end()) return;
        auto t = std::move(it->second);
        transfers.erase(it);
        curl_multi_remove_handle(multi, easy);
        if (t->mail_handler) {
            t->mail_handler->complete(curl::mail_result(*t, rc));
            return;
        }
        HttpResponse resp = curl::http_result(*t, rc);
        complete(std::move(t), std::move(resp));
    }
    void drain() {
        int left = 0;
        while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
            if (m->msg != CURLMSG_DONE) continue;
            finish(m->easy_handle, m->data.result);
        }
    }

    void action(curl_socket_t fd, int mask) {
        int running = 0;
        curl_multi_socket_action(multi, fd, mask, &running);
        drain();
    }

    void close_socket(const std::shared_ptr<WatchedSocket>& s) {
        s->closed = true;
        // release() cancels the pending waits and deregisters the fd; libcurl closes it.
        s->descriptor.release();
    }

    void arm(const std::shared_ptr<WatchedSocket>& s, bool read) {
        (read ? s->reading : s->writing) = true;
        auto wait = read ? asio::posix::descriptor_base::wait_read
                         : asio::posix::descriptor_base::wait_write;
        s->descriptor.async_wait(
            wait, [weak = weak_from_this(), s, read](const boost::system::error_code& ec) {
                (read ? s->reading : s->writing) = false;
                if (s->closed || ec == asio::error::operation_aborted) return;
                auto self = weak.lock();
                if (!self || self->stopping) return;
                int mask = ec ? CURL_CSELECT_ERR : (read ? CURL_CSELECT_IN : CURL_CSELECT_OUT);
                self->action(s->fd, mask);
                // libcurl may have changed (or removed) its interest meanwhile; keep waiting in
                // the directions it still wants.
                if (s->closed) return;
                self->rearm(s);
            });
    }

    void rearm(const std::shared_ptr<WatchedSocket>& s) {
        if ((s->what & CURL_POLL_IN) && !s->reading) arm(s, true);
        if ((s->what & CURL_POLL_OUT) && !s->writing) arm(s, false);
    }

    static int socket_callback(CURL*, curl_socket_t fd, int what, void* user, void*) {
        auto* self = static_cast<Impl*>(user);
        auto it = self->sockets.find(fd);
        if (what == CURL_POLL_REMOVE) {
            if (it != self->sockets.end()) {
                self->close_socket(it->second);
                self->sockets.erase(it);
            }
            return 0;
        }
        if (self->stopping) return 0;
        std::shared_ptr<WatchedSocket> s;
        if (it == self->sockets.end()) {
            s = std::make_shared<WatchedSocket>(self->executor);
            boost::system::error_code ec;
            s->descriptor.assign(fd, ec);
            if (ec) return -1;
            s->fd = fd;
            self->sockets.emplace(fd, s);
        } else {
            s = it->second;
        }
        s->what = what;
        self->rearm(s);
        return 0;
    }

    static int timer_callback(CURLM*, long timeout_ms, void* user) {
        auto* self = static_cast<Impl*>(user);
        if (self->stopping) return 0;
        if (timeout_ms < 0) {
            self->timer.cancel();
            return 0;
        }
        // Even a 0 ms timeout goes through the loop: socket_action must not be called from
        // inside a libcurl callback. It is posted, not a timer: libcurl asks for 0 ms on every
        // added transfer, and arming the reactor's timer each time costs a system call.
        if (timeout_ms == 0) {
            self->timer.cancel();
            if (self->kick_pending) return 0;
            self->kick_pending = true;
            asio::post(self->executor, [weak = self->weak_from_this()] {
                auto s = weak.lock();
                if (!s) return;
                s->kick_pending = false;
                if (!s->stopping) s->action(CURL_SOCKET_TIMEOUT, 0);
            });
            return 0;
        }
        self->timer.expires_after(std::chrono::milliseconds(timeout_ms));
        self->timer.async_wait(
            [weak = self->weak_from_this()](const boost::system::error_code& ec) {
                if (ec) return;
                auto s = weak.lock();
                if (!s || s->stopping) return;
                s->action(CURL_SOCKET_TIMEOUT, 0);
            });
        return 0;
    }

    void shutdown() {
        if (stopping) return;
        stopping = true;
        timer.cancel();
        auto pending = std::move(transfers);
        transfers.clear();
        for (auto& [easy, t] : pending) {
            curl_multi_remove_handle(multi, easy);
            fail(std::move(t), "client shut down");
        }
        for (auto& [fd, s] : sockets) close_socket(s);
        sockets.clear();
        curl_multi_cleanup(multi);
        multi = nullptr;
    }

    asio::any_io_executor executor;
    CurlMultiOptions options;
    CURLM* multi = nullptr;
    asio::steady_timer timer;
    std::map<curl_socket_t, std::shared_ptr<WatchedSocket>> sockets;
    std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers;
    bool stopping = false;
    bool kick_pending = false;  // a posted 0 ms timeout has not run yet
};

CurlMulti::CurlMulti(asio::any_io_executor executor, CurlMultiOptions options)
{
    // libcurl looks for a reusable connection, and for the oldest idle one to close, by walking
    // every connection to the host: with thousands in flight that walk dominated the CPU. Each
    // shard is a multi handle with its own connections, so the walks are that many times
    // shorter.
    std::size_t n = std::max<std::size_t>(1, options.shards);
    if (options.connection_cache > 0)
        options.connection_cache =
            std::max<long>(1, options.connection_cache / static_cast<long>(n));
    for (std::size_t i = 0; i < n; ++i) shards_.push_back(std::make_shared<Impl>(executor, options));
}

CurlMulti::~CurlMulti() {
    for (auto& s : shards_) s->shutdown();
}

std::size_t CurlMulti::in_flight() const {
    std::size_t n = 0;
    for (auto& s : shards_) n += s->transfers.size();
    return n;
}

CurlMulti::Impl* CurlMulti::next_shard() {
    // The shard with the fewest transfers in flight, the first one on a tie: at low load every
    // request goes through shard 0 and reuses its connections (one TLS handshake, not one per
    // shard).
    std::size_t best = 0;
    for (std::size_t i = 1; i < shards_.size(); ++i)
        if (shards_[i]->transfers.size() < shards_[best]->transfers.size()) best = i;
    return shards_[best].get();
}

asio::awaitable<HttpResponse> CurlMulti::perform(HttpRequest request) {
    // A named result rather than `co_return co_await`: g++ 12 destroys temporaries of that form
    // twice.
    Impl* impl = next_shard();
    auto init = [impl](auto handler, HttpRequest req) {
        using H = decltype(handler);
        impl->start(std::move(req), std::make_unique<CompletionFor<HttpResponse, H>>(
                                        std::move(handler), impl->executor));
    };
    HttpResponse response =
        co_await asio::async_initiate<decltype(asio::use_awaitable), void(HttpResponse)>(
            init, asio::use_awaitable, std::move(request));
    co_return response;
}

}  // namespace tinbao

namespace tinbao {

asio::awaitable<MailResult> CurlMulti::send_mail(MailRequest request) {
    Impl* impl = next_shard();
    auto init = [impl](auto handler, MailRequest req) {
        using H = decltype(handler);
        impl->start_mail(std::move(req), std::make_unique<CompletionFor<MailResult, H>>(
                                             std::move(handler), impl->executor));
    };
    MailResult result =
        co_await asio::async_initiate<decltype(asio::use_awaitable), void(MailResult)>(
            init, asio::use_awaitable, std::move(request));
    co_return result;
}

}  // namespace tinbao
