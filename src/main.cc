// tlsterm command line.
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <tlsterm/config.h>
#include <tlsterm/counters.h>

#include "common/log.h"
#include "crl/manager.h"
#include "shard/controller.h"
#include "shard/generation.h"
#include "shard/shard.h"
#include "shard/upgrade.h"
#include "tls/wolfssl.h"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_config = 1;
constexpr int exit_usage = 2;

void print_usage(std::FILE* out) {
    std::fputs(
        "usage: tlsterm FILE             run with configuration FILE\n"
        "       tlsterm --check FILE     validate FILE (and every file it names), exit 0 or 1\n"
        "       tlsterm --version        print versions and exit\n"
        "       tlsterm --help           print this text\n",
        out);
}

// The same builder as startup and reload: what --check accepts, a reload
// accepts. CRL URLs are not downloaded.
int check(const char* path) {
    tlsterm::shard::generation::options o;
    o.check_only = true;
    auto built = tlsterm::shard::generation::build(path, o);
    if (!built) {
        std::fprintf(stderr, "%s\n", built.error().c_str());
        return exit_config;
    }
    const auto& c = (*built)->cfg();
    std::size_t certs = 0;
    for (const auto& l : c.listeners) {
        certs += l.tls.certificates.size();
    }
    std::printf("%s: configuration OK (%zu listener%s, %zu upstream%s, %zu certificate%s)\n", path,
                c.listeners.size(), c.listeners.size() == 1 ? "" : "s", c.upstreams.size(),
                c.upstreams.size() == 1 ? "" : "s", certs, certs == 1 ? "" : "s");
    return exit_ok;
}

std::vector<int> usable_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (int i = 0; i < CPU_SETSIZE; ++i) {
            if (CPU_ISSET(static_cast<std::size_t>(i), &set)) {
                cpus.push_back(i);
            }
        }
    }
    if (cpus.empty()) {
        cpus.push_back(0);
    }
    return cpus;
}

// Each connection holds two descriptors (client and upstream), a spliced
// one six (and two pipes); one that finds no pipe copies instead, counted.
// Raise the soft limit to the hard one, as HAProxy does, and say so when
// even that cannot hold what the configuration allows.
void raise_descriptor_limit(const tlsterm::config& cfg, unsigned shard_count) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        return;
    }
    if (lim.rlim_cur < lim.rlim_max) {
        rlimit raised = lim;
        raised.rlim_cur = lim.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            lim = raised;
        }
    }
    const bool splices = std::ranges::any_of(cfg.listeners, [](const tlsterm::listener_config& l) {
        return l.mode == tlsterm::listener_mode::tcp && l.splice &&
               l.tls.ktls != tlsterm::ktls_mode::off;
    });
    const uint64_t each = splices ? 6 : 2;
    uint64_t needed = uint64_t{cfg.limits.max_connections_per_shard} * shard_count * each +
                      cfg.listeners.size() * shard_count + 64;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed) {
        TLSTERM_LOG(tlsterm::log_level::warn,
                    "descriptor limit %llu is below the %llu that %u shards x "
                    "limits.max_connections_per_shard=%u need (%llu per connection%s); accepts "
                    "will fail with EMFILE before that limit is reached (raise the hard limit, "
                    "e.g. LimitNOFILE=)",
                    static_cast<unsigned long long>(lim.rlim_cur),
                    static_cast<unsigned long long>(needed), shard_count,
                    cfg.limits.max_connections_per_shard, static_cast<unsigned long long>(each),
                    splices ? ": client, upstream and two pipes when spliced" : "");
    }
}

// One counter summed over the shards.
unsigned long long total(const std::vector<std::unique_ptr<tlsterm::shard::shard>>& shards,
                         const std::atomic<uint64_t> tlsterm::shard_counters::*counter) {
    unsigned long long sum = 0;
    for (const auto& s : shards) {
        sum += (s->counters().*counter).load(std::memory_order_relaxed);
    }
    return sum;
}

// Counters and CRL state, one line each (SIGUSR1, and at exit).
void log_status(const std::vector<std::unique_ptr<tlsterm::shard::shard>>& shards,
                const tlsterm::crl::manager& crls) {
    using tlsterm::log_level;
    using counters = tlsterm::shard_counters;
    std::array<uint64_t, tlsterm::cert_reject_count> rejected{};
    for (const auto& s : shards) {
        for (std::size_t r = 0; r < rejected.size(); ++r) {
            rejected[r] += s->counters().cert_rejected[r].load(std::memory_order_relaxed);
        }
    }
    std::string reasons;
    for (std::size_t r = 0; r < rejected.size(); ++r) {
        if (rejected[r] != 0) {
            reasons += " " + std::string(tlsterm::to_string(static_cast<tlsterm::cert_reject>(r))) +
                       "=" + std::to_string(rejected[r]);
        }
    }
    unsigned long long unauthenticated = 0;
    for (const auto& s : shards) {
        unauthenticated +=
            s->counters()
                .closed[static_cast<std::size_t>(tlsterm::close_reason::unauthenticated)]
                .load(std::memory_order_relaxed);
    }
    TLSTERM_LOG(log_level::info,
                "client certificates: %llu verified (%llu of them X.509 v1), %llu accepted on a "
                "stale CRL; rejected:%s; connections closed unauthenticated: %llu",
                total(shards, &counters::client_certs_verified),
                total(shards, &counters::x509v1_accepted),
                total(shards, &counters::stale_crl_accepted),
                reasons.empty() ? " none" : reasons.c_str(), unauthenticated);
    std::string refused;
    for (std::size_t r = 0; r < tlsterm::ticket_refusal_count; ++r) {
        unsigned long long n = 0;
        for (const auto& s : shards) {
            n += s->counters().tickets_refused[r].load(std::memory_order_relaxed);
        }
        if (n != 0) {
            refused += " " +
                       std::string(tlsterm::to_string(static_cast<tlsterm::ticket_refusal>(r))) +
                       "=" + std::to_string(n);
        }
    }
    TLSTERM_LOG(log_level::info,
                "session tickets: %llu handshakes resumed of %llu, %llu tickets issued; "
                "refused:%s",
                total(shards, &counters::resumed), total(shards, &counters::handshakes),
                total(shards, &counters::tickets_issued),
                refused.empty() ? " none" : refused.c_str());
    TLSTERM_LOG(log_level::info,
                "handshakes: %llu completed, %llu of them after a HelloRetryRequest",
                total(shards, &counters::handshakes), total(shards, &counters::hello_retries));
    TLSTERM_LOG(log_level::info,
                "kernel TLS: %llu connections' records in the kernel, %llu kept in userspace "
                "(a suite or socket the kernel would not take)",
                total(shards, &counters::ktls_connections),
                total(shards, &counters::ktls_fallbacks));
    TLSTERM_LOG(log_level::info,
                "kernel TLS upstream: %llu pooled connections' records in the kernel, %llu kept "
                "in userspace, %llu closed by the origin's KeyUpdate",
                total(shards, &counters::ktls_upstream_connections),
                total(shards, &counters::ktls_upstream_fallbacks),
                total(shards, &counters::ktls_upstream_key_updates));
    TLSTERM_LOG(
        log_level::info, "splice: %llu tcp connections spliced, %llu copied for want of a pipe",
        total(shards, &counters::splice_connections), total(shards, &counters::splice_fallbacks));
    TLSTERM_LOG(
        log_level::info,
        "http: %llu requests, %llu refused (4xx, 501), %llu failed upstream (502-504); "
        "upstream connections: %llu opened, %llu failed to connect",
        total(shards, &counters::http_requests), total(shards, &counters::http_client_errors),
        total(shards, &counters::http_upstream_errors), total(shards, &counters::upstream_connects),
        total(shards, &counters::upstream_connect_failures));
    tlsterm::log::totals lines = tlsterm::log::counted();
    TLSTERM_LOG(log_level::info,
                "log: %llu records dropped (a shard's log buffer full), %llu suppressed (over "
                "%u a second from one place of a shard)",
                static_cast<unsigned long long>(lines.dropped),
                static_cast<unsigned long long>(lines.suppressed), tlsterm::log::per_second_limit);
    std::time_t now = std::time(nullptr);
    for (const auto& st : crls.status()) {
        TLSTERM_LOG(log_level::info,
                    "CRL %s: %zu entries, age %llds, nextUpdate in %llds, last refresh %s%s",
                    st.name.c_str(), st.entries,
                    static_cast<long long>(st.this_update != 0 ? now - st.this_update : -1),
                    static_cast<long long>(st.next_update ? *st.next_update - now : 0),
                    st.last_error.empty() ? "ok" : "failed: ", st.last_error.c_str());
    }
}

uint64_t monotonic_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

void log_closed(const std::vector<std::unique_ptr<tlsterm::shard::shard>>& shards) {
    std::array<uint64_t, tlsterm::close_reason_count> closed{};
    for (const auto& s : shards) {
        for (std::size_t r = 0; r < closed.size(); ++r) {
            closed[r] += s->counters().closed[r].load();
        }
    }
    std::string reasons;
    for (std::size_t r = 0; r < closed.size(); ++r) {
        if (closed[r] != 0) {
            reasons += " " +
                       std::string(tlsterm::to_string(static_cast<tlsterm::close_reason>(r))) +
                       "=" + std::to_string(closed[r]);
        }
    }
    TLSTERM_LOG(tlsterm::log_level::info, "stopped: %llu accepted, %llu handshakes; closed:%s",
                total(shards, &tlsterm::shard_counters::accepted),
                total(shards, &tlsterm::shard_counters::handshakes), reasons.c_str());
}

int serve(const char* path) {
    using tlsterm::log_level;
    using tlsterm::shard::generation;
    std::vector<int> cpus = usable_cpus();
    generation::options o;
    o.auto_shards = static_cast<uint32_t>(cpus.size());
    auto first = generation::build(path, o);
    if (!first) {
        std::fprintf(stderr, "%s\n", first.error().c_str());
        return exit_config;
    }
    const tlsterm::config& cfg = (*first)->cfg();
    tlsterm::log::set_level(cfg.runtime.log);
    // The writer of the shards' log buffers starts here, with the main
    // thread's name and CPU set (a shard's would be pinned).
    tlsterm::log::start_writer();
    unsigned shard_count = (*first)->shards();

    // Signals are handled by the main thread through a signalfd; shard
    // threads inherit the blocked mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGUSR1);
    ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    int sfd = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);

    raise_descriptor_limit(cfg, shard_count);

    // Diagnostics: TLSTERM_IO_URING=minimal runs the fallback paths of
    // kernels without multishot operations or setup flags.
    const char* ring_mode = std::getenv("TLSTERM_IO_URING");
    tlsterm::shard::controller::options co;
    co.config_path = path;
    co.cpus = cpus;
    co.minimal_ring = ring_mode != nullptr && std::string_view(ring_mode) == "minimal";
    namespace upgrade = tlsterm::shard::upgrade;
    const std::filesystem::path upgrade_path = cfg.runtime.upgrade_socket;
    std::optional<upgrade::takeover> takeover;
    if (!upgrade_path.empty()) {
        // A tlsterm already serving there hands its sockets over.
        auto asked = upgrade::request(upgrade_path);
        if (!asked) {
            std::fprintf(stderr, "tlsterm: %s\n", asked.error().c_str());
            return exit_config;
        }
        takeover = std::move(*asked);
    }
    tlsterm::shard::controller ctl(std::move(co), std::move(*first));
    auto started = ctl.start(takeover ? std::move(takeover->sockets)
                                      : std::vector<tlsterm::shard::listener_sockets>{});
    if (!started) {
        std::fprintf(stderr, "tlsterm: %s\n", started.error().c_str());
        if (takeover) {
            upgrade::abort(*takeover);
        }
        ctl.drain();
        return exit_config;
    }
    if (takeover) {
        upgrade::confirm(*takeover);
        TLSTERM_LOG(log_level::info,
                    "binary upgrade: took over the listening sockets of pid %d, which drains",
                    static_cast<int>(takeover->from));
    }
    std::optional<upgrade::server> upgrades;
    if (!upgrade_path.empty()) {
        auto listening = upgrade::server::listen(upgrade_path);
        if (!listening) {
            // Serving goes on; only the next upgrade is impossible.
            TLSTERM_LOG(log_level::error, "%s; binary upgrades are off", listening.error().c_str());
        } else {
            upgrades.emplace(std::move(*listening));
        }
    }

    std::string notes;
    for (const auto& n : ctl.shards().front()->setup_notes()) {
        notes += (notes.empty() ? "" : "; ") + n;
    }
    TLSTERM_LOG(log_level::info, "tlsterm 0.1.0 (wolfSSL %s): %u shard%s; %s",
                wolfSSL_lib_version(), shard_count, shard_count == 1 ? "" : "s", notes.c_str());

    bool handed_over = false;
    for (;;) {
        pollfd fds[2] = {{sfd, POLLIN, 0}, {upgrades ? upgrades->fd() : -1, POLLIN, 0}};
        ::poll(fds, 2, 1000);
        if ((fds[1].revents & POLLIN) != 0) {
            pid_t successor = 0;
            if (upgrades->serve(ctl.sockets(), successor)) {
                TLSTERM_LOG(log_level::info,
                            "binary upgrade: pid %d serves now; stopped accepting, draining for "
                            "up to %u ms",
                            static_cast<int>(successor),
                            ctl.current().cfg().runtime.drain_timeout_ms);
                upgrades.reset();
                handed_over = true;
                break;
            }
        }
        ctl.collect();
        ctl.check_files(monotonic_ms());
        signalfd_siginfo info{};
        ssize_t n = ::read(sfd, &info, sizeof(info));
        if (n != sizeof(info)) {
            continue;
        }
        if (info.ssi_signo == SIGHUP) {
            // Whether or not the rebuild succeeds, the CRLs in force are
            // refreshed (URLs fetched, changed files read): revocations
            // must get through even when another file is broken.
            ctl.reload("SIGHUP");
            ctl.current().crls().request_reload();
            continue;
        }
        if (info.ssi_signo == SIGUSR1) {
            log_status(ctl.shards(), ctl.current().crls());
            uint64_t held = 0;
            for (const auto& s : ctl.shards()) {
                held += s->held_generations();
            }
            TLSTERM_LOG(log_level::info,
                        "configuration: generation %llu; %llu generation(s) live; shards hold %llu",
                        static_cast<unsigned long long>(ctl.current().number()),
                        static_cast<unsigned long long>(generation::live()),
                        static_cast<unsigned long long>(held));
            continue;
        }
        TLSTERM_LOG(log_level::info, "%s: stopped accepting; draining for up to %u ms",
                    info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT",
                    ctl.current().cfg().runtime.drain_timeout_ms);
        break;
    }
    ctl.drain(handed_over);
    log_status(ctl.shards(), ctl.current().crls());
    log_closed(ctl.shards());
    ::close(sfd);
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
    if (argc == 2 && argv[1][0] != '-') {
        return serve(argv[1]);
    }
    print_usage(stderr);
    return exit_usage;
}
