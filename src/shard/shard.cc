#include "shard/shard.h"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <future>

#include "common/log.h"
#include "conn/connection.h"
#include "ring/buffer_ring.h"
#include "ring/op_id.h"
#include "ring/ring.h"
#include "upstream/pool.h"

namespace tlsterm::shard {

using conn::connection;
using conn::op;

namespace {

constexpr unsigned ring_entries = 4096;
constexpr uint16_t buffer_group = 0;
constexpr uint16_t buffer_count = 1024;      // per shard
constexpr uint32_t buffer_size = 16 * 1024;  // one TLS record
constexpr long tick_ms = 100;                // timer resolution

uint64_t now_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

}  // namespace

// Everything the shard thread owns, created on that thread.
struct shard::loop {
    shard& owner;
    const config& cfg;
    std::unique_ptr<ring::uring> ring;
    std::unique_ptr<ring::buffer_ring> buffers;
    std::vector<conn::listener_runtime> listeners;
    conn::timer_list handshake_timers;
    conn::timer_list idle_timers;
    conn::timer_list header_timers;
    conn::timer_list body_timers;
    conn::admission admit;
    uint64_t admission_logged_ms = 0;  // refusals are logged at most once a second
    uint64_t admission_unlogged = 0;   // refusals since then
    uint64_t admission_swept_ms = 0;
    crl::manager::reader crls;
    // One pool per upstream that an HTTP listener routes to (indexed like
    // cfg.upstreams; null for upstreams no HTTP listener uses). Declared
    // before the slots: pooled connections refer to their pool to the end.
    std::vector<std::unique_ptr<upstream::pool>> pools;
    conn::slot_table slots;
    conn::conn_env env;
    std::size_t active = 0;  // client connections
    bool draining = false;
    uint64_t drain_deadline_ms = 0;
    bool drain_deadline_hit = false;
    __kernel_timespec tick{0, tick_ms * 1'000'000};
    uint64_t control_value = 0;

    loop(shard& s, std::unique_ptr<ring::uring> r, std::unique_ptr<ring::buffer_ring> b)
        : owner(s),
          cfg(*s._setup.cfg),
          ring(std::move(r)),
          buffers(std::move(b)),
          handshake_timers(cfg.limits.handshake_timeout_ms),
          idle_timers(cfg.limits.idle_timeout_ms),
          header_timers(cfg.limits.header_timeout_ms),
          body_timers(cfg.limits.body_timeout_ms),
          admit(cfg.limits, s._setup.shard_count),
          crls(s._setup.crls),
          env{*ring,       *buffers,      cfg.limits,  *s._counters, handshake_timers,
              idle_timers, header_timers, body_timers, crls,         slots,
              admit,       now_ms()} {}

    io_uring_sqe* sqe(op kind, uint32_t slot = 0) {
        io_uring_sqe* s = ring->sqe();
        io_uring_sqe_set_data64(s, ring::op_id{slot, 0, static_cast<uint8_t>(kind)}.encode());
        return s;
    }

    void arm_accept(std::size_t i) {
        auto& l = listeners[i];
        io_uring_sqe* s = sqe(op::accept, static_cast<uint32_t>(i));
        if (ring->supported().multishot_accept) {
            io_uring_prep_multishot_accept(s, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
        } else {
            io_uring_prep_accept(s, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
        }
        l.accept_armed = true;
    }

    void arm_tick() { io_uring_prep_timeout(sqe(op::tick), &tick, 0, 0); }

    void arm_control() {
        io_uring_prep_read(sqe(op::control), owner._control_fd, &control_value,
                           sizeof(control_value), 0);
    }

    void on_accept(uint32_t index, int res, uint32_t flags) {
        auto& l = listeners[index];
        if ((flags & IORING_CQE_F_MORE) == 0) {
            l.accept_armed = false;
        }
        if (res >= 0) {
            env.counters.accepted.fetch_add(1, std::memory_order_relaxed);
            if (draining || active >= cfg.limits.max_connections_per_shard) {
                env.counters.count(draining ? close_reason::drain_deadline
                                            : close_reason::too_many_connections);
                ::close(res);
            } else {
                // Taken now: after a reset the socket no longer knows its peer.
                sockaddr_in6 peer{};
                socklen_t len = sizeof(peer);
                ::getpeername(res, reinterpret_cast<sockaddr*>(&peer), &len);
                auto who = conn::address_key::from(reinterpret_cast<const sockaddr*>(&peer));
                if (auto refused = admit.admit(who, env.now_ms)) {
                    refuse(*refused, peer, l);
                    ::close(res);  // before any TLS: cheap
                } else {
                    open_connection(l, res, peer, who);
                }
            }
        } else if (res != -ECANCELED) {
            // Out of descriptors or memory: retrying at once would fail the
            // same way in a tight loop. Re-arm on the next tick; log once a second.
            l.accept_backoff = true;
            if (env.now_ms >= l.accept_error_logged_ms + 1000) {
                l.accept_error_logged_ms = env.now_ms;
                TLSTERM_LOG(log_level::warn, "shard %u: accept on listener %s: %s",
                            owner._setup.index, l.config->name.c_str(), std::strerror(-res));
            }
        }
        if (!l.accept_armed) {
            if (draining) {
                ::close(l.fd);
                l.fd = -1;
            } else if (!l.accept_backoff) {
                arm_accept(index);
            }
        } else if (l.accept_backoff) {
            // A multishot accept that keeps failing: stop it, re-arm later.
            io_uring_prep_cancel_fd(sqe(op::listener_cancel), l.fd, IORING_ASYNC_CANCEL_ALL);
        }
    }

    // Counted each time, logged at most once a second (a flood must not
    // become a flood of log lines).
    void refuse(close_reason why, const sockaddr_in6& peer, const conn::listener_runtime& l) {
        env.counters.count(why);
        ++admission_unlogged;
        if (env.now_ms < admission_logged_ms + 1000) {
            return;
        }
        admission_logged_ms = env.now_ms;
        TLSTERM_LOG(log_level::warn,
                    "shard %u: listener %s: refused %llu new connections in the last second, "
                    "the last from %s: %s (limits.%s)",
                    owner._setup.index, l.config->name.c_str(),
                    static_cast<unsigned long long>(admission_unlogged),
                    socket_address::from(reinterpret_cast<const sockaddr*>(&peer), sizeof(peer))
                        .to_string()
                        .c_str(),
                    std::string(to_string(why)).c_str(),
                    why == close_reason::address_limit ? "max_connections_per_address"
                                                       : "handshake_rate(_per_address)");
        admission_unlogged = 0;
    }

    void open_connection(conn::listener_runtime& l, int fd, const sockaddr_in6& peer,
                         const conn::address_key& who) {
        connection* c = slots.emplace<connection>([&](uint32_t slot, uint32_t generation) {
            return std::make_unique<connection>(env, l, slot, generation, fd, peer, who);
        });
        ++active;
        env.counters.active.store(active, std::memory_order_relaxed);
        c->start();
        release_if_finished(c->slot());
    }

    void release_if_finished(uint32_t slot) {
        auto* o = slots.find_slot(slot);
        bool client = o != nullptr && o->client_connection();
        conn::address_key who;
        if (client) {
            who = static_cast<connection*>(o)->admitted_as();
        }
        if (slots.release_if_finished(slot) && client) {
            --active;
            env.counters.active.store(active, std::memory_order_relaxed);
            admit.release(who);
        }
    }

    void on_tick() {
        for (std::size_t i = 0; i < listeners.size(); ++i) {
            auto& l = listeners[i];
            if (l.accept_backoff && !l.accept_armed && !draining) {
                l.accept_backoff = false;
                arm_accept(i);
            }
        }
        while (auto* t = handshake_timers.expired(env.now_ms)) {
            static_cast<connection*>(t->owner)->close(close_reason::handshake_timeout);
        }
        while (auto* t = idle_timers.expired(env.now_ms)) {
            static_cast<connection*>(t->owner)->close(close_reason::idle_timeout);
        }
        while (auto* t = header_timers.expired(env.now_ms)) {
            static_cast<connection*>(t->owner)->request_timeout();
        }
        while (auto* t = body_timers.expired(env.now_ms)) {
            static_cast<connection*>(t->owner)->request_timeout();
        }
        if (env.now_ms >= admission_swept_ms + 1000) {
            admission_swept_ms = env.now_ms;
            admit.sweep(env.now_ms);
        }
        for (auto& p : pools) {
            if (!p) {
                continue;
            }
            if (draining && active == 0) {
                p->drain();  // no client left to use a pooled connection
            }
            p->tick();
        }
        if (draining && !drain_deadline_hit && env.now_ms >= drain_deadline_ms) {
            drain_deadline_hit = true;
            std::size_t n = 0;
            slots.for_each([&](conn::ring_owner& o) {
                if (o.client_connection()) {
                    static_cast<connection&>(o).close(close_reason::drain_deadline);
                    ++n;
                }
            });
            if (n > 0) {
                TLSTERM_LOG(log_level::warn,
                            "shard %u: drain grace period over, closed %zu connections",
                            owner._setup.index, n);
            }
        }
        arm_tick();
    }

    void start_drain() {
        if (draining) {
            return;
        }
        draining = true;
        drain_deadline_ms = env.now_ms + cfg.runtime.drain_timeout_ms;
        for (std::size_t i = 0; i < listeners.size(); ++i) {
            auto& l = listeners[i];
            if (l.accept_armed) {
                io_uring_prep_cancel_fd(sqe(op::listener_cancel), l.fd, IORING_ASYNC_CANCEL_ALL);
            } else if (l.fd >= 0) {
                ::close(l.fd);
                l.fd = -1;
            }
        }
        // HTTP connections end at the next message boundary: idle ones now,
        // busy ones after their response (sent with Connection: close).
        slots.for_each([](conn::ring_owner& o) {
            if (o.client_connection()) {
                static_cast<connection&>(o).drain();
            }
        });
    }

    void dispatch(uint64_t user_data, int res, uint32_t flags) {
        auto id = ring::op_id::decode(user_data);
        auto kind = static_cast<op>(id.op);
        switch (kind) {
            case op::accept:
                on_accept(id.slot, res, flags);
                return;
            case op::tick:
                on_tick();
                return;
            case op::control:
                start_drain();
                return;
            case op::listener_cancel:
                return;
            default:
                break;
        }
        conn::ring_owner* target = slots.find(id);
        if (target == nullptr) {
            // A completion for a connection that no longer exists. Cannot
            // happen while slots are freed only when nothing is in flight;
            // return any buffer it carries so the ring never leaks.
            if ((flags & IORING_CQE_F_BUFFER) != 0) {
                buffers->taken();
                buffers->recycle(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT));
            }
            TLSTERM_LOG(log_level::error, "shard %u: stale completion for slot %u op %u",
                        owner._setup.index, id.slot, static_cast<unsigned>(id.op));
            return;
        }
        target->on_completion(kind, res, flags);
        release_if_finished(id.slot);
    }

    void run() {
        for (std::size_t i = 0; i < listeners.size(); ++i) {
            arm_accept(i);
        }
        arm_tick();
        arm_control();
        while (!(draining && slots.used() == 0)) {
            int rc = ring->submit_and_wait(1);
            if (rc < 0 && rc != -ETIME) {
                TLSTERM_LOG(log_level::error, "shard %u: io_uring_submit_and_wait: %s",
                            owner._setup.index, std::strerror(-rc));
                break;
            }
            env.now_ms = now_ms();
            ring->drain([this](uint64_t ud, int r, uint32_t f) { dispatch(ud, r, f); });
        }
        for (auto& l : listeners) {
            if (l.fd >= 0) {
                ::close(l.fd);
                l.fd = -1;
            }
        }
    }
};

shard::shard(shard_setup setup)
    : _setup(std::move(setup)), _counters(std::make_unique<shard_counters>()) {
    _control_fd = ::eventfd(0, EFD_CLOEXEC);
}

shard::~shard() {
    join();
    if (_control_fd >= 0) {
        ::close(_control_fd);
    }
}

std::expected<void, std::string> shard::start() {
    if (_control_fd < 0) {
        return std::unexpected(std::string("eventfd: ") + std::strerror(errno));
    }
    std::promise<std::string> ready;
    auto result = ready.get_future();
    _thread = std::thread([this, &ready] {
        // Visible in top -H, ps -T and /proc/PID/task/*/comm.
        std::string name = "tlsterm-shard-" + std::to_string(_setup.index);
        ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
        if (_setup.cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(static_cast<std::size_t>(_setup.cpu), &set);
            if (::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set) != 0) {
                TLSTERM_LOG(log_level::warn, "shard %u: cannot pin to CPU %d", _setup.index,
                            _setup.cpu);
            }
        }
        // The ring is created here: SINGLE_ISSUER binds it to this thread.
        auto r = ring::uring::create(ring_entries, _setup.minimal_ring);
        if (!r) {
            ready.set_value(r.error());
            return;
        }
        auto b = ring::buffer_ring::create((*r)->raw(), buffer_group, buffer_count, buffer_size);
        if (!b) {
            ready.set_value(b.error());
            return;
        }
        _notes = (*r)->setup_notes();
        loop l(*this, std::move(*r), std::move(*b));
        const config& cfg = *_setup.cfg;
        for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
            conn::listener_runtime lr;
            lr.config = &cfg.listeners[i];
            lr.upstream = cfg.find_upstream(lr.config->upstream);
            lr.fd = _setup.listener_fds[i];
            auto ctx = tls::server_context::create(lr.config->tls, *_setup.anchors);
            if (!ctx) {
                ready.set_value("listener " + lr.config->name + ": " + ctx.error());
                return;
            }
            lr.tls = std::move(*ctx);
            l.listeners.push_back(std::move(lr));
        }
        // Pools for the upstreams HTTP listeners route to, one per upstream.
        l.pools.resize(cfg.upstreams.size());
        auto pool_for =
            [&](const std::string& wanted) -> std::expected<upstream::pool*, std::string> {
            for (std::size_t u = 0; u < cfg.upstreams.size(); ++u) {
                if (cfg.upstreams[u].name != wanted) {
                    continue;
                }
                if (!l.pools[u]) {
                    std::unique_ptr<upstream::client_context> tls;
                    if (cfg.upstreams[u].tls.mode != upstream_tls_mode::none) {
                        auto ctx = upstream::client_context::create(cfg.upstreams[u].tls);
                        if (!ctx) {
                            return std::unexpected("upstream " + wanted + ": " + ctx.error());
                        }
                        tls = std::move(*ctx);
                    }
                    l.pools[u] =
                        std::make_unique<upstream::pool>(l.env, cfg.upstreams[u], std::move(tls));
                }
                return l.pools[u].get();
            }
            return std::unexpected("unknown upstream " + wanted);
        };
        for (auto& lr : l.listeners) {
            if (lr.config->mode != listener_mode::http) {
                continue;
            }
            auto p = pool_for(lr.config->upstream);
            if (!p) {
                ready.set_value(p.error());
                return;
            }
            lr.default_pool = *p;
            for (const auto& route : lr.config->routes) {
                auto rp = pool_for(route.upstream);
                if (!rp) {
                    ready.set_value(rp.error());
                    return;
                }
                lr.route_pools.push_back(*rp);
            }
        }
        _setup.listener_fds.clear();  // owned by the loop's listeners now
        ready.set_value("");
        l.run();
    });
    std::string error = result.get();
    if (!error.empty()) {
        _thread.join();
        return std::unexpected(error);
    }
    return {};
}

void shard::request_drain() {
    uint64_t one = 1;
    ssize_t n = ::write(_control_fd, &one, sizeof(one));
    (void)n;
}

void shard::join() {
    if (_thread.joinable()) {
        _thread.join();
    }
}

}  // namespace tlsterm::shard
