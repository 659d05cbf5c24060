// A real redis-server for the queue tests: started on a free loopback port with no persistence,
// ready once it answers PING; killed and waited for when the object goes away.
//
// Threading: used from the test's thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace tinbao::test {

class RedisServer {
public:
    // Throws std::runtime_error when redis-server cannot be started.
    explicit RedisServer(const std::filesystem::path& dir);
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    uint16_t port() const { return port_; }

private:
    pid_t pid_ = -1;
    int pipe_fd_ = -1;
    uint16_t port_ = 0;
};

// A fresh directory under the system's temp dir, removed with the object.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace tinbao::test
