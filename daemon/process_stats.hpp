// The process's own figures for /metrics (process_cpu_seconds_total and the others Prometheus
// clients export), read from /proc/self at scrape time. A figure that cannot be read is left
// out (-1): under the unit's ProcSubset=pid, /proc/stat (the boot time) is hidden, and the start
// time is then the moment tinbaod's code first ran.
//
// Thread-safe (reads files only).
#pragma once

#include <string_view>

namespace tinbao {

struct ProcessStats {
    double cpu_seconds = -1;  // user + system
    double resident_bytes = -1;
    double open_fds = -1;
    double max_fds = -1;             // the soft RLIMIT_NOFILE
    double start_time_seconds = -1;  // Unix seconds
};

// Fills cpu_seconds, resident_bytes and (with `boot_time_seconds` > 0) start_time_seconds from
// the text of /proc/self/stat (proc(5)). False when the text is not such a line.
bool parse_proc_stat(std::string_view text, double ticks_per_second, double page_bytes,
                     double boot_time_seconds, ProcessStats& out);

// The boot time (`btime` of /proc/stat's text), -1 when absent.
double parse_boot_time(std::string_view proc_stat);

ProcessStats read_process_stats();

}  // namespace tinbao
