#include "providers/state/file_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <random>
#include <utility>

#include "common/private_files.hpp"
#include "common/time.hpp"

namespace tinbao {

namespace json = boost::json;

namespace {

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// The whole content of an open file from offset 0; nullopt on a read error.
std::optional<std::string> read_fd(int fd) {
    std::string out;
    char buf[8192];
    off_t off = 0;
    for (;;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return std::nullopt;
        }
        if (n == 0) return out;
        out.append(buf, static_cast<std::size_t>(n));
        off += n;
    }
}

// The data file as a JSON object; an absent file is empty, an unreadable one nullopt.
std::optional<json::object> read_data(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return json::object{};
        return std::nullopt;
    }
    auto text = read_fd(fd);
    ::close(fd);
    if (!text) return std::nullopt;
    if (text->empty()) return json::object{};
    boost::system::error_code ec;
    json::value v = json::parse(*text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.get_object());
}

// The flock'ed lease file, held for the duration of one operation.
class LockFile {
  public:
    explicit LockFile(const std::string& path) {
        fd_ = open_private(path, O_RDWR);
        if (fd_ < 0) return;
        int rc;
        do rc = ::flock(fd_, LOCK_EX);
        while (rc != 0 && errno == EINTR);
        if (rc != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~LockFile() {
        if (fd_ >= 0) ::close(fd_);  // closing releases the flock
    }
    LockFile(const LockFile&) = delete;
    LockFile& operator=(const LockFile&) = delete;

    bool ok() const { return fd_ >= 0; }

    // Leases; a damaged lease file counts as no leases (each lease expires anyway).
    json::object leases() const {
        auto text = read_fd(fd_);
        if (!text || text->empty()) return {};
        boost::system::error_code ec;
        json::value v = json::parse(*text, ec);
        if (ec || !v.is_object()) return {};
        return std::move(v.get_object());
    }

    // Rewritten in place: the flock belongs to this inode, so no rename here.
    bool write_leases(const json::object& leases) {
        std::string text = json::serialize(leases);
        if (::ftruncate(fd_, 0) != 0) return false;
        if (::lseek(fd_, 0, SEEK_SET) < 0) return false;
        if (!write_all(fd_, text)) return false;
        return ::fdatasync(fd_) == 0;
    }

  private:
    int fd_ = -1;
};

std::string make_owner() {
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    return std::to_string(::getpid()) + "-" + std::to_string(++counter) + "-" +
           std::to_string(rd());
}

}  // namespace

FileStateStore::FileStateStore(std::string path)
    : path_(std::move(path)), lock_path_(path_ + ".lock"), owner_(make_owner()) {}

StoreRead FileStateStore::get_now(const std::string& key) {
    StoreRead r;
    auto data = read_data(path_);  // put() renames a whole file in: no lock needed to read
    if (!data) return r;
    r.ok = true;
    if (const json::value* v = data->if_contains(key); v && v->is_string())
        r.value = std::string(v->get_string());
    return r;
}

bool FileStateStore::put_now(const std::string& key, const std::string& value) {
    LockFile lock(lock_path_);
    if (!lock.ok()) return false;
    auto data = read_data(path_);
    if (!data) return false;  // never overwrite other keys we could not read
    (*data)[key] = value;
    std::string text = json::serialize(*data);

    std::string tmp = path_ + ".tmp." + std::to_string(::getpid());
    int fd = open_private(tmp, O_WRONLY | O_TRUNC);
    if (fd < 0) return false;
    bool ok = write_all(fd, text) && ::fsync(fd) == 0;
    ok = (::close(fd) == 0) && ok;
    if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return false;
    }
    std::filesystem::path dir = std::filesystem::path(path_).parent_path();
    if (dir.empty()) dir = ".";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return false;
    ok = ::fsync(dfd) == 0;
    ::close(dfd);
    return ok;
}

bool FileStateStore::try_lock_now(const std::string& key, std::chrono::milliseconds ttl) {
    const int64_t now = now_ms();
    if (auto it = held_.find(key); it != held_.end()) {
        if (it->second > now) return false;  // held by another caller of this instance
        held_.erase(it);
    }
    LockFile lock(lock_path_);
    if (!lock.ok()) return false;
    json::object leases = lock.leases();
    if (const json::value* v = leases.if_contains(key); v && v->is_object()) {
        const json::object& lease = v->get_object();
        const json::value* exp = lease.if_contains("expires_at_ms");
        int64_t expires = exp && exp->is_int64() ? exp->get_int64() : 0;
        if (expires > now) return false;
    }
    // Drop expired leases of other keys while the file is open anyway.
    for (auto it = leases.begin(); it != leases.end();) {
        const json::value* exp = it->value().is_object()
                                     ? it->value().get_object().if_contains("expires_at_ms")
                                     : nullptr;
        if (!exp || !exp->is_int64() || exp->get_int64() <= now)
            it = leases.erase(it);
        else
            ++it;
    }
    const int64_t expires = now + ttl.count();
    leases[key] = json::object{{"owner", owner_}, {"expires_at_ms", expires}};
    if (!lock.write_leases(leases)) return false;
    held_[key] = expires;
    return true;
}

void FileStateStore::unlock_now(const std::string& key) {
    if (held_.erase(key) == 0) return;
    LockFile lock(lock_path_);
    if (!lock.ok()) return;  // the lease ends at its expiry
    json::object leases = lock.leases();
    const json::value* v = leases.if_contains(key);
    if (!v || !v->is_object()) return;
    const json::value* owner = v->get_object().if_contains("owner");
    if (!owner || !owner->is_string() || owner->get_string() != owner_) return;
    leases.erase(key);
    lock.write_leases(leases);
}

boost::asio::awaitable<StoreRead> FileStateStore::get(std::string key) { co_return get_now(key); }

boost::asio::awaitable<bool> FileStateStore::put(std::string key, std::string value) {
    co_return put_now(key, value);
}

boost::asio::awaitable<bool> FileStateStore::try_lock(std::string key,
                                                      std::chrono::milliseconds ttl) {
    co_return try_lock_now(key, ttl);
}

boost::asio::awaitable<void> FileStateStore::unlock(std::string key) {
    unlock_now(key);
    co_return;
}

}  // namespace tinbao
