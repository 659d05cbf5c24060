// Helpers for provider tests: running an awaitable to completion on a loop, building a
// ConfigView from YAML text, a scratch directory, and a child process whose first stdout line
// is read (the fakes print "PORT <n>").
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "providers/config_view.hpp"
#include "providers/provider.hpp"

extern char** environ;

namespace tinbao::test {

// The common keys of a provider under test, as the config loader would give them.
inline ProviderSettings provider_settings(
    std::string name, std::string type, Channel channel,
    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    ProviderSettings s;
    s.name = std::move(name);
    s.type = std::move(type);
    s.channel = channel;
    s.timeout = timeout;
    return s;
}

// An SMS as the planner hands it to an adapter: to 84912345678, two segments.
inline OutboundMessage sms_message(std::string id, std::string text, bool unicode = true) {
    OutboundMessage m;
    m.id = std::move(id);
    m.event_id = "evt-1";
    m.dossier_code = "000.00.01.H62-250101-0001";
    m.channel = Channel::sms;
    m.to = "84912345678";
    m.text = std::move(text);
    m.unicode = unicode;
    m.segments = 2;
    return m;
}

// Runs the loop until the awaitable finishes (other work, such as idle connections, may stay).
template <typename T>
T run_until_done(boost::asio::io_context& ioc, boost::asio::awaitable<T> op) {
    auto fut = boost::asio::co_spawn(ioc, std::move(op), boost::asio::use_future);
    ioc.restart();
    while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        if (ioc.run_one() == 0) ioc.restart();
    }
    return fut.get();
}

struct YamlView {
    std::shared_ptr<Diagnostics> diags = std::make_shared<Diagnostics>();
    ConfigView view;
    explicit YamlView(const std::string& yaml)
        : view(YAML::Load(yaml), "providers[0]", "test.yaml", diags) {}
    std::string all() const {
        std::string out;
        for (const auto& d : diags->items) out += d.str() + "\n";
        return out;
    }
};

class ScratchDir {
  public:
    ScratchDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "tinbao-test-XXXXXX").string();
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

// A child process (found on PATH) with its stdout on a pipe; killed and reaped on destruction.
class ChildProcess {
  public:
    explicit ChildProcess(std::vector<std::string> argv) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        out_ = fds[0];
        if (rc != 0) {
            pid_ = -1;
            throw std::runtime_error("cannot start " + argv[0]);
        }
    }
    ~ChildProcess() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        if (out_ >= 0) ::close(out_);
    }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // One line from the child's stdout, waiting at most `deadline`; empty on EOF or timeout.
    std::string read_line(std::chrono::milliseconds deadline) {
        std::string line;
        auto until = std::chrono::steady_clock::now() + deadline;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return {};
            pollfd p{out_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
            char c;
            if (::read(out_, &c, 1) != 1) return {};
            if (c == '\n') return line;
            line.push_back(c);
        }
    }

  private:
    pid_t pid_ = -1;
    int out_ = -1;
};

}  // namespace tinbao::test
