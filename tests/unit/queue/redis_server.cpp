#include "tests/unit/queue/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <vector>

extern char** environ;

namespace tinbao::test {

namespace {

uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        if (fd >= 0) ::close(fd);
        throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

bool answers_ping(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::write(fd, "PING\r\n", 6) == 6) {
        char buf[16] = {};
        ok = ::read(fd, buf, sizeof buf - 1) >= 5 && std::string(buf).rfind("+PONG", 0) == 0;
    }
    if (fd >= 0) ::close(fd);
    return ok;
}

}  // namespace

RedisServer::RedisServer(const std::filesystem::path& dir) {
    for (int attempt = 0; attempt < 3 && pid_ < 0; ++attempt) {
        port_ = free_port();
        int out[2];
        if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_adddup2(&fa, out[1], 2);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        posix_spawn_file_actions_addclose(&fa, out[1]);
        std::vector<std::string> args{"redis-server", "--port",       std::to_string(port_),
                                      "--bind",       "127.0.0.1",    "--save",
                                      "",             "--appendonly", "no",
                                      "--dir",        dir.string(),   "--daemonize",
                                      "no"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_t pid = -1;
        int rc = posix_spawnp(&pid, "redis-server", &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(out[1]);
        if (rc != 0) {
            ::close(out[0]);
            throw std::runtime_error("cannot start redis-server");
        }
        // Ready when it says so on its output (read without sleeping), then answers PING.
        std::string log;
        bool ready = false;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!ready && std::chrono::steady_clock::now() < deadline) {
            pollfd p{out[0], POLLIN, 0};
            if (::poll(&p, 1, 1000) <= 0) continue;
            char buf[4096];
            auto n = ::read(out[0], buf, sizeof buf);
            if (n <= 0) break;  // it exited (the port was taken meanwhile)
            log.append(buf, static_cast<size_t>(n));
            ready = log.find("Ready to accept connections") != std::string::npos;
        }
        // The read end stays open (its few later lines fit the pipe) until the server stops.
        pipe_fd_ = out[0];
        if (ready && answers_ping(port_)) {
            pid_ = pid;
        } else {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            ::close(pipe_fd_);
            pipe_fd_ = -1;
        }
    }
    if (pid_ < 0) throw std::runtime_error("redis-server did not become ready");
}

RedisServer::~RedisServer() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    if (pipe_fd_ >= 0) ::close(pipe_fd_);
}

TempDir::TempDir() {
    auto base = std::filesystem::temp_directory_path() / "tinbao-queue-XXXXXX";
    std::string s = base.string();
    if (!::mkdtemp(s.data())) throw std::runtime_error("mkdtemp failed");
    path_ = s;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

}  // namespace tinbao::test
