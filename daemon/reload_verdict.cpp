#include "daemon/reload_verdict.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/private_files.hpp"

namespace json = boost::json;

namespace tinbao {

std::filesystem::path reload_verdict_dir(const std::filesystem::path& state_dir) {
    // systemd joins several RuntimeDirectory= entries with ':'.
    if (const char* run = std::getenv("RUNTIME_DIRECTORY"); run != nullptr && *run != '\0') {
        std::string first(run);
        first = first.substr(0, first.find(':'));
        if (!first.empty()) return first;
    }
    return state_dir;
}

std::string verdict_json(const ReloadVerdict& v) {
    json::array problems;
    for (auto& p : v.problems) problems.emplace_back(p);
    json::object o{{"pid", v.pid},
                   {"config", v.config},
                   {"requested", v.requested},
                   {"generation", v.generation},
                   {"result", v.result},
                   {"problems", std::move(problems)},
                   {"at_ms", v.at_ms}};
    return json::serialize(o) + "\n";
}

std::optional<ReloadVerdict> parse_verdict(std::string_view text) {
    boost::system::error_code ec;
    json::value parsed = json::parse(text, ec);
    if (ec || !parsed.is_object()) return std::nullopt;
    auto& o = parsed.get_object();
    auto integer = [&](const char* key) -> std::optional<int64_t> {
        const json::value* v = o.if_contains(key);
        if (v == nullptr) return std::nullopt;
        if (v->is_int64()) return v->get_int64();
        if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
        return std::nullopt;
    };
    auto text_of = [&](const char* key) -> std::string {
        const json::value* v = o.if_contains(key);
        return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    auto pid = integer("pid");
    auto requested = integer("requested");
    auto generation = integer("generation");
    if (!pid || !requested || !generation || *requested < 0 || *generation < 0) return std::nullopt;
    ReloadVerdict v;
    v.pid = *pid;
    v.requested = static_cast<uint64_t>(*requested);
    v.generation = static_cast<uint64_t>(*generation);
    v.config = text_of("config");
    v.result = text_of("result");
    v.at_ms = integer("at_ms").value_or(0);
    if (const json::value* p = o.if_contains("problems"); p && p->is_array())
        for (auto& x : p->get_array())
            if (x.is_string()) v.problems.emplace_back(x.get_string());
    return v;
}

bool write_verdict(const std::filesystem::path& file, const ReloadVerdict& v, std::string& error) {
    auto aside = file;
    aside += ".new";
    int fd = open_private(aside, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) {
        error = aside.string() + ": " + std::strerror(errno);
        return false;
    }
    std::string text = verdict_json(v);
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            error = aside.string() + ": " + std::strerror(errno);
            ::close(fd);
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    std::error_code ec;
    std::filesystem::rename(aside, file, ec);
    if (ec) {
        error = file.string() + ": " + ec.message();
        return false;
    }
    return true;
}

std::optional<ReloadVerdict> read_verdict(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return parse_verdict(s.str());
}

}  // namespace tinbao
