// tlsterm command line.
#include <cstdio>
#include <cstring>
#include <string_view>

#include <tlsterm/config.h>

#include "tls/wolfssl.h"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_config = 1;
constexpr int exit_usage = 2;

void print_usage(std::FILE* out) {
    std::fputs(
        "usage: tlsterm --check FILE     validate FILE (and every file it names), exit 0 or 1\n"
        "       tlsterm --version        print versions and exit\n"
        "       tlsterm --help           print this text\n",
        out);
}

int check(const char* path) {
    auto cfg = tlsterm::load_config(path);
    if (!cfg) {
        std::fprintf(stderr, "%s\n", cfg.error().to_string().c_str());
        return exit_config;
    }
    const auto& c = **cfg;
    std::size_t certs = 0;
    for (const auto& l : c.listeners) {
        certs += l.tls.certificates.size();
    }
    std::printf("%s: configuration OK (%zu listener%s, %zu upstream%s, %zu certificate%s)\n", path,
                c.listeners.size(), c.listeners.size() == 1 ? "" : "s", c.upstreams.size(),
                c.upstreams.size() == 1 ? "" : "s", certs, certs == 1 ? "" : "s");
    return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
        std::printf("tlsterm 0.1.0 (wolfSSL %s)\n", wolfSSL_lib_version());
        return exit_ok;
    }
    if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        print_usage(stdout);
        return exit_ok;
    }
    if (argc == 3 && std::strcmp(argv[1], "--check") == 0) {
        return check(argv[2]);
    }
    print_usage(stderr);
    return exit_usage;
}
