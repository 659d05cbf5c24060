// tinbaod: the notification daemon. Usage: tinbaod --config FILE [--check] (docs/operating.md).
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

#include "daemon/app.hpp"
#include "daemon/check.hpp"

namespace {

void usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: tinbaod --config FILE [--check]\n"
                 "       tinbaod --check FILE\n"
                 "       tinbaod --version\n"
                 "\n"
                 "  --config FILE  the configuration (see config/tinbao.example.yaml)\n"
                 "  --check        validate the config and templates, render every template\n"
                 "                 against every sample event, and exit (0 clean, 1 problems)\n"
                 "  --version      print the version\n");
}

}  // namespace

int main(int argc, char** argv) {
    // Whatever tinbaod creates (queue database, provider state, outbox files) is its own: the
    // modules set 0600/0700 themselves, this also covers files a library makes on its own.
    ::umask(0077);
    std::string config;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--version" || a == "-V") {
            std::printf("tinbaod %s\n", TINBAO_VERSION);
            return 0;
        } else if (a == "--help" || a == "-h") {
            usage(stdout);
            return 0;
        } else if (a == "--check") {
            check = true;
        } else if (a == "--config" || a == "-c") {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "tinbaod: --config needs a file\n");
                usage(stderr);
                return 2;
            }
            config = argv[++i];
        } else if (a.rfind("--config=", 0) == 0) {
            config = a.substr(9);
        } else if (!a.empty() && a[0] != '-' && config.empty()) {
            config = a;  // `tinbaod --check FILE`, as other daemons' config checks are written
        } else {
            std::fprintf(stderr, "tinbaod: unknown argument '%s'\n", a.c_str());
            usage(stderr);
            return 2;
        }
    }
    if (config.empty()) {
        std::fprintf(stderr, "tinbaod: --config FILE is required\n");
        usage(stderr);
        return 2;
    }
    try {
        auto path = std::filesystem::absolute(config);
        return check ? tinbao::run_check(path) : tinbao::run_daemon(path);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tinbaod: fatal: %s\n", e.what());
        return 1;
    }
}
