#include "common/private_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace tinbao {

namespace {

constexpr mode_t kFileMode = 0600;
constexpr mode_t kDirMode = 0700;

// fchmod only when needed: a file owned by someone else (root-made, read-only to us) is left
// to its owner, and the open still succeeds.
void narrow(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && (st.st_mode & 07777) != kFileMode && st.st_uid == ::geteuid())
        ::fchmod(fd, kFileMode);
}

}  // namespace

std::error_code create_private_directories(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> missing;
    std::error_code ec;
    for (auto p = dir; !p.empty() && !std::filesystem::exists(p, ec); p = p.parent_path()) {
        missing.push_back(p);
        if (p == p.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        if (::mkdir(it->c_str(), kDirMode) != 0 && errno != EEXIST)
            return {errno, std::generic_category()};
        // mkdir's mode is filtered by the umask; the mode is set whatever it was.
        if (::chmod(it->c_str(), kDirMode) != 0) return {errno, std::generic_category()};
    }
    return {};
}

int open_private(const std::filesystem::path& file, int flags) {
    int fd = ::open(file.c_str(), flags | O_CREAT | O_CLOEXEC, kFileMode);
    if (fd >= 0) narrow(fd);
    return fd;
}

std::error_code ensure_private_file(const std::filesystem::path& file) {
    int fd = open_private(file, O_RDWR);
    if (fd < 0) return {errno, std::generic_category()};
    ::close(fd);
    return {};
}

void narrow_if_exists(const std::filesystem::path& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return;
    narrow(fd);
    ::close(fd);
}

}  // namespace tinbao
