#include "daemon/reload_command.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "daemon/config/config.hpp"
#include "daemon/reload_verdict.hpp"

namespace fs = std::filesystem;

namespace tinbao {

const char* const kReloadHelp =
    "usage: tinbaoctl [--config FILE] reload [--pid PID | --pid-file FILE] [--dir DIR]\n"
    "                 [--timeout SECONDS]\n"
    "Sends SIGHUP to tinbaod and waits for its verdict on the reload: exits 0 when the new\n"
    "configuration is applied, 1 with the reasons when it is refused (the running one stays),\n"
    "or when no verdict comes within --timeout (30 s). The verdict is reload.json in tinbaod's\n"
    "run directory: --dir, else $RUNTIME_DIRECTORY (systemd), else the config's state_dir,\n"
    "else /run/tinbao. Without --pid or --pid-file, the pid written in that file.\n";

namespace {

std::optional<int64_t> number(const std::string& s) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

// The config's state_dir, read leniently: the config being reloaded may not load (that is
// what the verdict will say), but its state_dir is usually still there to read.
std::optional<fs::path> state_dir_of(const std::string& config) {
    auto loaded = load_config(config);
    if (loaded.config) return loaded.config->state_dir;
    try {
        YAML::Node root = YAML::LoadFile(config);
        auto dir = root["state_dir"];
        if (!dir || !dir.IsScalar()) return fs::path("/var/lib/tinbao");
        fs::path p = dir.as<std::string>();
        if (p.string().find("${") != std::string::npos) return std::nullopt;
        return p.is_absolute() ? p : fs::absolute(config).parent_path() / p;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

bool alive(int64_t pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

}  // namespace

int reload_command(const std::string& config, const std::vector<std::string>& args) {
    int64_t pid = 0;
    std::string pid_file, dir;
    int64_t timeout_s = 30;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= args.size()) return std::nullopt;
            return args[++i];
        };
        std::optional<std::string> v;
        if ((a == "--pid" || a == "--pid-file" || a == "--dir" || a == "--timeout") &&
            !(v = value())) {
            std::fprintf(stderr, "tinbaoctl reload: %s needs a value\n", a.c_str());
            return 2;
        }
        if (a == "--pid") {
            auto n = number(*v);
            if (!n || *n <= 0) {
                std::fprintf(stderr, "tinbaoctl reload: --pid: not a process id: %s\n", v->c_str());
                return 2;
            }
            pid = *n;
        } else if (a == "--pid-file") {
            pid_file = *v;
        } else if (a == "--dir") {
            dir = *v;
        } else if (a == "--timeout") {
            auto n = number(*v);
            if (!n || *n <= 0 || *n > 3600) {
                std::fprintf(stderr, "tinbaoctl reload: --timeout: seconds, 1 to 3600: %s\n",
                             v->c_str());
                return 2;
            }
            timeout_s = *n;
        } else {
            std::fprintf(stderr, "tinbaoctl reload: unknown argument '%s'\n%s", a.c_str(),
                         kReloadHelp);
            return 2;
        }
    }
    if (!pid_file.empty()) {
        std::ifstream in(pid_file);
        std::string text;
        std::getline(in, text);
        auto n = number(text);
        if (!n || *n <= 0) {
            std::fprintf(stderr, "tinbaoctl reload: %s: no process id in it\n", pid_file.c_str());
            return 1;
        }
        pid = *n;
    }

    // The verdict file: the first candidate that has one (for this pid, when known).
    std::vector<fs::path> candidates;
    if (!dir.empty()) {
        candidates.push_back(dir);
    } else {
        if (const char* run = std::getenv("RUNTIME_DIRECTORY"); run && *run)
            candidates.push_back(reload_verdict_dir(""));
        if (auto sd = state_dir_of(config)) candidates.push_back(*sd);
        candidates.push_back("/run/tinbao");
    }
    fs::path file;
    std::optional<ReloadVerdict> before;
    std::string looked;
    for (auto& c : candidates) {
        auto f = c / kReloadVerdictFile;
        looked += (looked.empty() ? "" : ", ") + f.string();
        auto v = read_verdict(f);
        // Without a pid, a file left by a tinbaod that has stopped is not the one.
        if (!v || (pid != 0 ? v->pid != pid : !alive(v->pid))) continue;
        file = f;
        before = v;
        break;
    }
    if (!before) {
        std::fprintf(stderr,
                     "tinbaoctl reload: no reload verdict of %s found (looked at %s); is tinbaod "
                     "running? Pass --dir with its run directory\n",
                     pid ? ("tinbaod pid " + std::to_string(pid)).c_str() : "tinbaod",
                     looked.c_str());
        return 1;
    }
    pid = before->pid;
    if (!alive(pid)) {
        std::fprintf(stderr, "tinbaoctl reload: tinbaod (pid %lld) is not running\n",
                     static_cast<long long>(pid));
        return 1;
    }
    if (::kill(static_cast<pid_t>(pid), SIGHUP) != 0) {
        std::fprintf(stderr, "tinbaoctl reload: cannot signal tinbaod (pid %lld): %s\n",
                     static_cast<long long>(pid), std::strerror(errno));
        return 1;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
        auto v = read_verdict(file);
        if (v && v->pid == pid && v->generation > before->requested) {
            if (v->result == "ok") {
                std::printf("tinbaod (pid %lld) reloaded %s\n", static_cast<long long>(pid),
                            v->config.c_str());
                return 0;
            }
            std::fprintf(stderr,
                         "tinbaoctl reload: tinbaod (pid %lld) refused the new configuration "
                         "and runs on the previous one (%zu problem(s)):\n",
                         static_cast<long long>(pid), v->problems.size());
            for (auto& p : v->problems) std::fprintf(stderr, "  %s\n", p.c_str());
            return 1;
        }
        if (!alive(pid)) {
            std::fprintf(stderr,
                         "tinbaoctl reload: tinbaod (pid %lld) stopped before its "
                         "verdict\n",
                         static_cast<long long>(pid));
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a file
    }
    std::fprintf(stderr,
                 "tinbaoctl reload: no verdict from tinbaod (pid %lld) within %lld s (%s); "
                 "see its log\n",
                 static_cast<long long>(pid), static_cast<long long>(timeout_s), file.c_str());
    return 1;
}

}  // namespace tinbao
