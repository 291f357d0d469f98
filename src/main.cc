// tlsterm command line.
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string_view>
#include <vector>

#include <tlsterm/config.h>
#include <tlsterm/counters.h>

#include "common/log.h"
#include "crl/manager.h"
#include "shard/listen.h"
#include "shard/shard.h"
#include "tls/client_auth.h"
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

// Each connection holds two descriptors (client and upstream). Raise the
// soft limit to the hard one, as HAProxy does, and say so when even that
// cannot hold what the configuration allows.
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
    uint64_t needed = uint64_t{cfg.limits.max_connections_per_shard} * shard_count * 2 +
                      cfg.listeners.size() * shard_count + 64;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed) {
        TLSTERM_LOG(tlsterm::log_level::warn,
                    "descriptor limit %llu is below the %llu that %u shards x "
                    "limits.max_connections_per_shard=%u need; accepts will fail with EMFILE "
                    "before that limit is reached (raise the hard limit, e.g. LimitNOFILE=)",
                    static_cast<unsigned long long>(lim.rlim_cur),
                    static_cast<unsigned long long>(needed), shard_count,
                    cfg.limits.max_connections_per_shard);
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
    TLSTERM_LOG(
        log_level::info,
        "http: %llu requests, %llu refused (4xx, 501), %llu failed upstream (502-504); "
        "upstream connections: %llu opened, %llu failed to connect",
        total(shards, &counters::http_requests), total(shards, &counters::http_client_errors),
        total(shards, &counters::http_upstream_errors), total(shards, &counters::upstream_connects),
        total(shards, &counters::upstream_connect_failures));
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

int serve(const char* path) {
    using tlsterm::log_level;
    auto loaded = tlsterm::load_config(path);
    if (!loaded) {
        std::fprintf(stderr, "%s\n", loaded.error().to_string().c_str());
        return exit_config;
    }
    std::shared_ptr<const tlsterm::config> cfg = *loaded;
    tlsterm::log::set_level(cfg->runtime.log);

    // Client certificate trust and revocation state, shared by every shard.
    auto anchors = tlsterm::tls::load_trust_anchors(*cfg);
    if (!anchors) {
        std::fprintf(stderr, "tlsterm: %s\n", anchors.error().c_str());
        return exit_config;
    }
    auto crls = tlsterm::crl::manager::create(*cfg, anchors->cas);
    if (!crls) {
        std::fprintf(stderr, "tlsterm: %s\n", crls.error().c_str());
        return exit_config;
    }

    std::vector<int> cpus = usable_cpus();
    unsigned shard_count =
        cfg->runtime.shards != 0 ? cfg->runtime.shards : static_cast<unsigned>(cpus.size());

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
    int sfd = ::signalfd(-1, &signals, SFD_CLOEXEC);

    raise_descriptor_limit(*cfg, shard_count);
    auto sockets = tlsterm::shard::open_listeners(*cfg, shard_count);
    if (!sockets) {
        std::fprintf(stderr, "%s\n", sockets.error().to_string().c_str());
        return exit_config;
    }

    // Diagnostics: TLSTERM_IO_URING=minimal runs the fallback paths of
    // kernels without multishot operations or setup flags.
    const char* ring_mode = std::getenv("TLSTERM_IO_URING");
    bool minimal_ring = ring_mode != nullptr && std::string_view(ring_mode) == "minimal";

    std::vector<std::unique_ptr<tlsterm::shard::shard>> shards;
    for (unsigned i = 0; i < shard_count; ++i) {
        tlsterm::shard::shard_setup setup;
        setup.index = i;
        setup.cfg = cfg;
        setup.listener_fds = sockets->fds[i];
        setup.cpu = cfg->runtime.pin_cpus ? cpus[i % cpus.size()] : -1;
        setup.minimal_ring = minimal_ring;
        setup.shard_count = shard_count;
        setup.anchors = &*anchors;
        setup.crls = crls->get();
        auto sh = std::make_unique<tlsterm::shard::shard>(std::move(setup));
        if (auto started = sh->start(); !started) {
            std::fprintf(stderr, "tlsterm: shard %u: %s\n", i, started.error().c_str());
            for (auto& s : shards) {
                s->request_drain();
            }
            return exit_config;
        }
        shards.push_back(std::move(sh));
    }

    (*crls)->start();

    std::string notes;
    for (const auto& n : shards.front()->setup_notes()) {
        notes += (notes.empty() ? "" : "; ") + n;
    }
    TLSTERM_LOG(log_level::info, "tlsterm 0.1.0 (wolfSSL %s): %u shard%s; %s",
                wolfSSL_lib_version(), shard_count, shard_count == 1 ? "" : "s", notes.c_str());
    for (std::size_t i = 0; i < cfg->listeners.size(); ++i) {
        const auto& l = cfg->listeners[i];
        TLSTERM_LOG(log_level::info, "listener %s listening on %s -> upstream %s", l.name.c_str(),
                    sockets->bound[i].to_string().c_str(), l.upstream.c_str());
    }

    for (;;) {
        signalfd_siginfo info{};
        ssize_t n = ::read(sfd, &info, sizeof(info));
        if (n != sizeof(info)) {
            continue;
        }
        if (info.ssi_signo == SIGHUP) {
            TLSTERM_LOG(log_level::info,
                        "SIGHUP: reloading CRLs (the rest of the configuration needs a restart)");
            (*crls)->request_reload();
            continue;
        }
        if (info.ssi_signo == SIGUSR1) {
            log_status(shards, **crls);
            continue;
        }
        TLSTERM_LOG(log_level::info, "%s: stopped accepting; draining for up to %u ms",
                    info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT",
                    cfg->runtime.drain_timeout_ms);
        break;
    }
    for (auto& s : shards) {
        s->request_drain();
    }
    for (auto& s : shards) {
        s->join();
    }
    (*crls)->stop();
    log_status(shards, **crls);
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
    TLSTERM_LOG(log_level::info, "stopped: %llu accepted, %llu handshakes; closed:%s",
                total(shards, &tlsterm::shard_counters::accepted),
                total(shards, &tlsterm::shard_counters::handshakes), reasons.c_str());
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
