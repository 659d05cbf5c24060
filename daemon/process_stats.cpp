#include "daemon/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tinbao {

namespace {

// When this code first ran: the start time when /proc/stat cannot be read.
const double g_loaded_at =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

std::string slurp(const char* path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool number(std::string_view s, double& out) {
    long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return false;
    out = static_cast<double>(v);
    return true;
}

}  // namespace

bool parse_proc_stat(std::string_view text, double ticks_per_second, double page_bytes,
                     double boot_time_seconds, ProcessStats& out) {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted
    // from the last ')'. Field 3 (state) is the first after it.
    auto close = text.rfind(')');
    if (close == std::string_view::npos || ticks_per_second <= 0) return false;
    std::vector<std::string_view> f;
    std::string_view rest = text.substr(close + 1);
    while (!rest.empty()) {
        auto start = rest.find_first_not_of(" \n");
        if (start == std::string_view::npos) break;
        rest.remove_prefix(start);
        auto end = rest.find_first_of(" \n");
        f.push_back(rest.substr(0, end));
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    }
    // Fields 14 utime, 15 stime, 22 starttime (clock ticks), 24 rss (pages): index field - 3.
    double utime = 0, stime = 0, start = 0, rss = 0;
    if (f.size() < 22 || !number(f[11], utime) || !number(f[12], stime) || !number(f[19], start) ||
        !number(f[21], rss))
        return false;
    out.cpu_seconds = (utime + stime) / ticks_per_second;
    out.resident_bytes = rss * page_bytes;
    if (boot_time_seconds > 0)
        out.start_time_seconds = boot_time_seconds + start / ticks_per_second;
    return true;
}

double parse_boot_time(std::string_view proc_stat) {
    std::istringstream lines{std::string(proc_stat)};
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.starts_with("btime ")) continue;
        double v = 0;
        return number(std::string_view(line).substr(6), v) ? v : -1;
    }
    return -1;
}

ProcessStats read_process_stats() {
    ProcessStats s;
    double boot = parse_boot_time(slurp("/proc/stat"));
    parse_proc_stat(slurp("/proc/self/stat"), static_cast<double>(sysconf(_SC_CLK_TCK)),
                    static_cast<double>(sysconf(_SC_PAGESIZE)), boot, s);
    if (s.start_time_seconds < 0) s.start_time_seconds = g_loaded_at;
    std::error_code ec;
    double fds = 0;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
         it.increment(ec))
        ++fds;
    if (!ec) s.open_fds = fds;
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        s.max_fds = static_cast<double>(rl.rlim_cur);
    return s;
}

}  // namespace tinbao
