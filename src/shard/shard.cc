#include "shard/shard.h"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <future>
#include <utility>

#include "common/log.h"
#include "conn/connection.h"
#include "proxy/http_forwarder.h"
#include "proxy/tcp_pipe.h"
#include "runtime/buffer_ring.h"
#include "runtime/op_id.h"
#include "runtime/ring.h"
#include "shard/listen.h"
#include "upstream/pool.h"

namespace tlsterm::shard {

using conn::connection;
using runtime::op;

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

// Deadline lists of one kind (handshake, idle, request head, request body),
// one per timeout value: generations with equal timeouts share a list, and
// each list stays sorted because all its entries have one timeout.
class deadline_lists {
  public:
    conn::deadlines* get(uint64_t timeout_ms) {
        for (auto& l : _lists) {
            if (l->timeout_ms() == timeout_ms) {
                return l.get();
            }
        }
        _lists.push_back(std::make_unique<conn::deadlines>(timeout_ms));
        return _lists.back().get();
    }
    // The first expired entry of any list, or null.
    runtime::deadline_link<connection>* expired(uint64_t now_ms) const {
        for (const auto& l : _lists) {
            if (auto* t = l->expired(now_ms)) {
                return t;
            }
        }
        return nullptr;
    }

  private:
    std::vector<std::unique_ptr<conn::deadlines>> _lists;  // never freed: a few per shard
};

// One generation as this shard runs it.
struct shard_generation {
    std::shared_ptr<const generation> gen;
    conn::generation_view view;
    // Sized once, never grown: connections refer to their listener_runtime.
    std::vector<conn::listener_runtime> listeners;
    // One pool per upstream that an HTTP listener routes to (indexed like
    // the config's upstreams; null for the others).
    std::vector<std::unique_ptr<upstream::pool>> pools;
    // The routes of each HTTP listener (indexed like listeners; null for
    // tcp ones): what its connections' forwarders are made by.
    std::vector<std::unique_ptr<proxy::http_routes>> routes;

    std::size_t pooled_objects() const {
        std::size_t n = 0;
        for (const auto& p : pools) {
            n += p ? p->objects() : 0;
        }
        return n;
    }
};

// The listener of `g` whose sockets `key` names (listener_key), or null.
conn::listener_runtime* find_listener(shard_generation& g, const std::string& key) {
    for (auto& lr : g.listeners) {
        if (listener_key(*lr.config) == key) {
            return &lr;
        }
    }
    return nullptr;
}

// A listening socket of this shard: it outlives generations, and accepts
// for the current generation's listener of the same key.
struct listen_socket {
    std::string key;
    int fd = -1;
    conn::listener_runtime* runtime = nullptr;  // in the current generation
    bool accept_armed = false;
    bool accept_backoff = false;  // accept failed (e.g. EMFILE): re-arm on the next tick
    bool stopping = false;        // its listener was removed (or the shard drains)
    uint64_t accept_error_logged_ms = 0;
};

// Everything the shard thread owns, created on that thread.
struct shard::loop {
    shard& owner;
    std::unique_ptr<runtime::uring> ring;
    std::unique_ptr<runtime::buffer_ring> buffers;
    std::vector<listen_socket> sockets;  // index = the accept op's slot; entries stay
    deadline_lists handshake_deadlines;
    deadline_lists idle_deadlines;
    deadline_lists header_deadlines;
    deadline_lists body_deadlines;
    deadline_lists linger_deadlines;
    conn::admission admit;
    uint64_t admission_logged_ms = 0;  // refusals are logged at most once a second
    uint64_t admission_unlogged = 0;   // refusals since then
    uint64_t admission_swept_ms = 0;
    // Oldest first; back() is current. Declared before the slots: pooled
    // connections refer to their pool, connections to their generation.
    // Shared with the client connections of each: a connection holds its
    // generation alive.
    std::vector<std::shared_ptr<shard_generation>> generations;
    runtime::slot_table slots;
    runtime::deferred_queue later;  // destroyed first: unlinks what is still queued
    proxy::pipe_factory pipes;      // every tcp listener's
    conn::conn_env env;
    std::size_t active = 0;  // client connections
    bool draining = false;
    uint64_t drain_deadline_ms = 0;
    bool drain_deadline_hit = false;
    __kernel_timespec tick{0, tick_ms * 1'000'000};
    uint64_t mailbox_value = 0;

    loop(shard& s, std::unique_ptr<runtime::uring> r, std::unique_ptr<runtime::buffer_ring> b)
        : owner(s),
          ring(std::move(r)),
          buffers(std::move(b)),
          admit(s._setup.first.gen->cfg().limits, s._setup.shard_count),
          env{{*ring, *buffers, *s._counters, slots, later, now_ms()},
              admit,
              *s._setup.identities} {}

    shard_generation& current() { return *generations.back(); }
    const config& cfg() { return current().gen->cfg(); }

    io_uring_sqe* sqe(op kind, uint32_t slot = 0) {
        io_uring_sqe* s = ring->sqe();
        io_uring_sqe_set_data64(s, runtime::op_id{slot, 0, static_cast<uint8_t>(kind)}.encode());
        return s;
    }

    void arm_accept(std::size_t i) {
        auto& l = sockets[i];
        io_uring_sqe* s = sqe(op::accept, static_cast<uint32_t>(i));
        if (ring->supported().multishot_accept) {
            io_uring_prep_multishot_accept(s, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
        } else {
            io_uring_prep_accept(s, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
        }
        l.accept_armed = true;
    }

    // Closes a socket no connection owns (refused, or a stopped listener's).
    void close_socket(int fd) { io_uring_prep_close(sqe(op::shard_close), fd); }

    void arm_tick() { io_uring_prep_timeout(sqe(op::tick), &tick, 0, 0); }

    void arm_mailbox() {
        io_uring_prep_read(sqe(op::control), owner._mailbox_fd, &mailbox_value,
                           sizeof(mailbox_value), 0);
    }

    // Stop accepting on socket `i`: cancel its accept (the completion then
    // closes it), or close it now when none is armed.
    void stop_socket(std::size_t i) {
        auto& l = sockets[i];
        l.stopping = true;
        l.runtime = nullptr;
        if (l.accept_armed) {
            io_uring_prep_cancel_fd(sqe(op::listener_cancel), l.fd, IORING_ASYNC_CANCEL_ALL);
        } else if (l.fd >= 0) {
            close_socket(l.fd);
            l.fd = -1;
        }
    }

    // Builds this shard's runtime of `g`; it becomes current.
    void install(std::shared_ptr<const generation> g, std::vector<socket_handoff> added) {
        const config& c = g->cfg();
        auto sg = std::make_shared<shard_generation>();
        sg->view.number = g->number();
        sg->view.limits = &c.limits;
        sg->view.handshake_timers = handshake_deadlines.get(c.limits.handshake_timeout_ms);
        sg->view.idle_timers = idle_deadlines.get(c.limits.idle_timeout_ms);
        sg->view.header_timers = header_deadlines.get(c.limits.header_timeout_ms);
        sg->view.body_timers = body_deadlines.get(c.limits.body_timeout_ms);
        sg->view.linger_timers = linger_deadlines.get(c.limits.lingering_close_ms);
        sg->view.crls = crl::manager::reader(&g->crls());
        sg->pools.resize(c.upstreams.size());
        sg->listeners.resize(c.listeners.size());
        sg->routes.resize(c.listeners.size());
        auto pool_for = [&](const std::string& wanted) -> upstream::pool* {
            for (std::size_t u = 0; u < c.upstreams.size(); ++u) {
                if (c.upstreams[u].name != wanted) {
                    continue;
                }
                if (!sg->pools[u]) {
                    sg->pools[u] = std::make_unique<upstream::pool>(
                        env, c.upstreams[u], g->client_context(owner._setup.index, u),
                        g->upstream_records(u).kernel ? &env.kernel_tls : nullptr);
                }
                return sg->pools[u].get();
            }
            return nullptr;  // the config checked every name
        };
        for (std::size_t i = 0; i < c.listeners.size(); ++i) {
            auto& lr = sg->listeners[i];
            lr.gen = &sg->view;
            lr.config = &c.listeners[i];
            lr.upstream = c.find_upstream(lr.config->upstream);
            lr.tls = &g->server_context(owner._setup.index, i);
            lr.kernel_records = g->records(i).kernel;
            lr.splice = g->records(i).splice;
            if (lr.config->mode == listener_mode::http) {
                auto routes = std::make_unique<proxy::http_routes>();
                routes->default_pool = pool_for(lr.config->upstream);
                for (const auto& route : lr.config->routes) {
                    routes->route_pools.push_back(pool_for(route.upstream));
                }
                lr.handlers = routes.get();
                sg->routes[i] = std::move(routes);
            } else {
                lr.handlers = &pipes;
            }
        }
        sg->gen = std::move(g);

        // Sockets: kept ones follow the new generation, removed ones stop,
        // added ones start accepting.
        for (std::size_t i = 0; i < sockets.size(); ++i) {
            if (sockets[i].stopping) {
                continue;
            }
            sockets[i].runtime = find_listener(*sg, sockets[i].key);
            if (sockets[i].runtime == nullptr) {
                stop_socket(i);
            }
        }
        for (auto& h : added) {
            listen_socket ls;
            ls.key = h.key;
            ls.fd = h.fd;
            ls.runtime = find_listener(*sg, h.key);
            sockets.push_back(std::move(ls));
            if (sockets.back().runtime == nullptr) {
                stop_socket(sockets.size() - 1);  // cannot happen: the main thread matched it
            } else if (!draining) {
                arm_accept(sockets.size() - 1);
            }
        }

        if (!generations.empty()) {
            retire(current());
        }
        admit.set_limits(c.limits, owner._setup.shard_count);
        generations.push_back(std::move(sg));
        owner._current.store(current().view.number, std::memory_order_relaxed);
        owner._held.store(generations.size(), std::memory_order_relaxed);
    }

    void retire(shard_generation& old) {
        old.view.retired = true;
        for (auto& p : old.pools) {
            if (p) {
                p->retire();
            }
        }
        conn::generation_view* v = &old.view;
        slots.for_each([v](runtime::ring_owner& o) {
            if (o.client_connection() && &static_cast<connection&>(o).generation() == v) {
                static_cast<connection&>(o).retire();
            }
        });
    }

    // Lets go of replaced generations nothing refers to any more.
    void collect_generations() {
        for (std::size_t i = 0; i + 1 < generations.size();) {
            auto& g = *generations[i];
            // Only this list holds it: no client connection is left.
            const bool unused = generations[i].use_count() == 1;
            if (unused) {
                for (auto& p : g.pools) {
                    if (p) {
                        p->drain();  // no client of this generation is left
                    }
                }
            }
            if (unused && g.pooled_objects() == 0) {
                generations.erase(generations.begin() + static_cast<std::ptrdiff_t>(i));
                owner._held.store(generations.size(), std::memory_order_relaxed);
                continue;
            }
            ++i;
        }
    }

    void on_mail() {
        for (auto& m : owner.take_mail()) {
            if (m.gen) {
                install(std::move(m.gen), std::move(m.sockets));
            } else {
                for (auto& h : m.sockets) {
                    close_socket(h.fd);
                }
            }
            if (m.drain) {
                start_drain(m.keep_idle);
            }
        }
        arm_mailbox();
    }

    void on_accept(uint32_t index, int res, uint32_t flags) {
        auto& l = sockets[index];
        if ((flags & IORING_CQE_F_MORE) == 0) {
            l.accept_armed = false;
        }
        if (res >= 0) {
            env.counters.accepted.fetch_add(1, std::memory_order_relaxed);
            // A connection accepted after its listener stopped (the cancel
            // was in flight) is still served, by the current generation's
            // listener of that name when there is one: a drain or an
            // upgrade must not refuse what the kernel already accepted.
            conn::listener_runtime* target =
                l.runtime != nullptr ? l.runtime : find_listener(current(), l.key);
            if (target == nullptr) {
                env.counters.count(close_reason::drain_deadline);
                close_socket(res);
            } else if (active >= cfg().limits.max_connections_per_shard) {
                env.counters.count(close_reason::too_many_connections);
                close_socket(res);
            } else {
                // Taken now: after a reset the socket no longer knows its peer.
                sockaddr_in6 peer{};
                socklen_t len = sizeof(peer);
                ::getpeername(res, reinterpret_cast<sockaddr*>(&peer), &len);
                auto who = conn::address_key::from(reinterpret_cast<const sockaddr*>(&peer));
                if (auto refused = admit.admit(who, env.now_ms)) {
                    refuse(*refused, peer, *target);
                    close_socket(res);  // before any TLS: cheap
                } else {
                    open_connection(*target, res, peer, who);
                }
            }
        } else if (res != -ECANCELED) {
            // Out of descriptors or memory: retrying at once would fail the
            // same way in a tight loop. Re-arm on the next tick; log once a second.
            l.accept_backoff = true;
            if (env.now_ms >= l.accept_error_logged_ms + 1000) {
                l.accept_error_logged_ms = env.now_ms;
                TLSTERM_LOG(log_level::warn, "shard %u: accept on listener %s: %s",
                            owner._setup.index, l.key.substr(0, l.key.rfind('@')).c_str(),
                            std::strerror(-res));
            }
        }
        if (!l.accept_armed) {
            if (l.stopping) {
                if (l.fd >= 0) {
                    close_socket(l.fd);
                    l.fd = -1;
                }
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
        // The listener, as a reference to the generation it belongs to.
        std::shared_ptr<conn::listener_runtime> listener;
        for (const auto& g : generations) {
            if (&g->view == l.gen) {
                listener = std::shared_ptr<conn::listener_runtime>(g, &l);
            }
        }
        connection* c = slots.emplace<connection>([&](uint32_t slot, uint32_t generation) {
            return std::make_unique<connection>(env, std::move(listener), slot, generation, fd,
                                                peer, who);
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
        for (std::size_t i = 0; i < sockets.size(); ++i) {
            auto& l = sockets[i];
            if (l.accept_backoff && !l.accept_armed && !l.stopping) {
                l.accept_backoff = false;
                arm_accept(i);
            }
        }
        while (auto* t = handshake_deadlines.expired(env.now_ms)) {
            t->owner().close(close_reason::handshake_timeout);
        }
        while (auto* t = idle_deadlines.expired(env.now_ms)) {
            t->owner().close(close_reason::idle_timeout);
        }
        while (auto* t = header_deadlines.expired(env.now_ms)) {
            t->owner().request_timeout();
        }
        while (auto* t = body_deadlines.expired(env.now_ms)) {
            t->owner().request_timeout();
        }
        while (auto* t = linger_deadlines.expired(env.now_ms)) {
            t->owner().end_lingering();
        }
        if (env.now_ms >= admission_swept_ms + 1000) {
            admission_swept_ms = env.now_ms;
            admit.sweep(env.now_ms);
        }
        for (auto& g : generations) {
            for (auto& p : g->pools) {
                if (!p) {
                    continue;
                }
                if (draining && active == 0) {
                    p->drain();  // no client left to use a pooled connection
                }
                p->tick();
            }
        }
        collect_generations();
        if (draining && !drain_deadline_hit && env.now_ms >= drain_deadline_ms) {
            drain_deadline_hit = true;
            std::size_t n = 0;
            slots.for_each([&](runtime::ring_owner& o) {
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

    void start_drain(bool keep_idle) {
        if (draining) {
            return;
        }
        draining = true;
        drain_deadline_ms = env.now_ms + cfg().runtime.drain_timeout_ms;
        for (std::size_t i = 0; i < sockets.size(); ++i) {
            if (!sockets[i].stopping) {
                conn::listener_runtime* keep = sockets[i].runtime;
                stop_socket(i);
                sockets[i].runtime = keep;  // what a late accept is served by
            }
        }
        for (auto& g : generations) {
            g->view.retired = true;
        }
        // HTTP connections end at the next message boundary: idle ones now
        // (unless keep_idle), busy ones after their response (sent with
        // Connection: close).
        slots.for_each([keep_idle](runtime::ring_owner& o) {
            if (o.client_connection()) {
                auto& c = static_cast<connection&>(o);
                if (keep_idle) {
                    c.retire();
                } else {
                    c.drain();
                }
            }
        });
    }

    void dispatch(uint64_t user_data, int res, uint32_t flags) {
        auto id = runtime::op_id::decode(user_data);
        auto kind = static_cast<op>(id.op);
        switch (kind) {
            case op::accept:
                on_accept(id.slot, res, flags);
                return;
            case op::tick:
                on_tick();
                return;
            case op::control:
                on_mail();
                return;
            case op::listener_cancel:
            case op::shard_close:
                return;
            default:
                break;
        }
        runtime::ring_owner* target = slots.find(id);
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
        arm_tick();
        arm_mailbox();
        while (!(draining && slots.used() == 0)) {
            int rc = ring->submit_and_wait(1);
            if (rc < 0 && rc != -ETIME) {
                TLSTERM_LOG(log_level::error, "shard %u: io_uring_submit_and_wait: %s",
                            owner._setup.index, std::strerror(-rc));
                break;
            }
            env.now_ms = now_ms();
            ring->drain([this](uint64_t ud, int r, uint32_t f) {
                dispatch(ud, r, f);
                // What the completion caused, with no caller's frame below
                // it (runtime/deferred.h).
                later.run();
            });
            log::wake_writer();  // what this batch logged goes out now
        }
        for (auto& l : sockets) {
            if (l.fd >= 0) {
                ::close(l.fd);
                l.fd = -1;
            }
        }
    }
};

shard::shard(shard_setup setup)
    : _setup(std::move(setup)), _counters(std::make_unique<shard_counters>()) {
    _mailbox_fd = ::eventfd(0, EFD_CLOEXEC);
}

shard::~shard() {
    join();
    for (auto& m : take_mail()) {
        for (auto& h : m.sockets) {
            ::close(h.fd);
        }
    }
    for (auto& h : _setup.first.sockets) {
        ::close(h.fd);
    }
    if (_mailbox_fd >= 0) {
        ::close(_mailbox_fd);
    }
}

std::expected<void, std::string> shard::start() {
    if (_mailbox_fd < 0) {
        return std::unexpected(std::string("eventfd: ") + std::strerror(errno));
    }
    std::promise<std::string> ready;
    auto result = ready.get_future();
    _thread = std::thread([this, &ready] {
        // Visible in top -H, ps -T and /proc/PID/task/*/comm.
        std::string name = "tlsterm-shard-" + std::to_string(_setup.index);
        ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
        log::buffer_lines("shard " + std::to_string(_setup.index));  // never blocks on stderr
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
        auto r = runtime::uring::create(ring_entries, _setup.minimal_ring);
        if (!r) {
            ready.set_value(r.error());
            return;
        }
        auto b = runtime::buffer_ring::create((*r)->raw(), buffer_group, buffer_count, buffer_size);
        if (!b) {
            ready.set_value(b.error());
            return;
        }
        _notes = (*r)->setup_notes();
        loop l(*this, std::move(*r), std::move(*b));
        mailbox_message first = std::move(_setup.first);
        _setup.first = {};
        l.install(std::move(first.gen), std::move(first.sockets));
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

std::vector<mailbox_message> shard::take_mail() {
    std::lock_guard lock(_mail_mutex);
    return std::exchange(_mail, {});
}

void shard::post(mailbox_message m) {
    {
        std::lock_guard lock(_mail_mutex);
        _mail.push_back(std::move(m));
    }
    uint64_t one = 1;
    ssize_t n = ::write(_mailbox_fd, &one, sizeof(one));
    (void)n;
}

void shard::request_drain(bool keep_idle) {
    mailbox_message m;
    m.drain = true;
    m.keep_idle = keep_idle;
    post(std::move(m));
}

void shard::join() {
    if (_thread.joinable()) {
        _thread.join();
    }
}

}  // namespace tlsterm::shard
