// clock_shift: moves the wall clock of a process it is preloaded into (LD_PRELOAD), for the
// integration tests only: tests/integration/test_reminders.py says why libfaketime could not be
// used. CLOCK_REALTIME (and its coarse form), gettimeofday() and time() read the real clock plus
// a whole number of seconds written in the file named by $TINBAO_TEST_CLOCK_SHIFT_FILE
// ("+172800": two days ahead), read again at most every 10 ms; the monotonic clocks are left
// alone. Never installed, never linked into tinbaod.
//
// It calls the kernel directly (syscall) and allocates nothing: it works whatever the
// allocator, and from any thread.
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

namespace {

constexpr long long kNs = 1000000000LL;
std::atomic<long long> g_offset_ns{0};
std::atomic<long long> g_next_read_ns{0};

long long raw_ns(clockid_t id) {
    timespec ts{};
    if (syscall(SYS_clock_gettime, id, &ts) != 0) return 0;
    return ts.tv_sec * kNs + ts.tv_nsec;
}

long long offset_ns() {
    const long long mono = raw_ns(CLOCK_MONOTONIC);
    if (mono >= g_next_read_ns.load(std::memory_order_relaxed)) {
        g_next_read_ns.store(mono + 10000000LL, std::memory_order_relaxed);
        if (const char* path = std::getenv("TINBAO_TEST_CLOCK_SHIFT_FILE")) {
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                char buf[64];
                ssize_t n = read(fd, buf, sizeof buf - 1);
                close(fd);
                if (n > 0) {
                    buf[n] = '\0';
                    g_offset_ns.store(std::strtoll(buf, nullptr, 10) * kNs,
                                      std::memory_order_relaxed);
                }
            }
        }
    }
    return g_offset_ns.load(std::memory_order_relaxed);
}

}  // namespace

extern "C" {

int clock_gettime(clockid_t id, struct timespec* ts) noexcept {
    if (syscall(SYS_clock_gettime, id, ts) != 0) return -1;
    if (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE) {
        long long t = ts->tv_sec * kNs + ts->tv_nsec + offset_ns();
        ts->tv_sec = static_cast<time_t>(t / kNs);
        ts->tv_nsec = static_cast<long>(t % kNs);
    }
    return 0;
}

int gettimeofday(struct timeval* tv, void* tz) noexcept {
    (void)tz;
    long long t = raw_ns(CLOCK_REALTIME) + offset_ns();
    tv->tv_sec = static_cast<time_t>(t / kNs);
    tv->tv_usec = static_cast<suseconds_t>(t % kNs / 1000);
    return 0;
}

time_t time(time_t* out) noexcept {
    time_t t = static_cast<time_t>((raw_ns(CLOCK_REALTIME) + offset_ns()) / kNs);
    if (out) *out = t;
    return t;
}

}  // extern "C"
