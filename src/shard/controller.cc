#include "shard/controller.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "common/log.h"

namespace tlsterm::shard {

namespace {

// This shard's copy of each listener's socket.
std::vector<socket_handoff> handoffs(const std::vector<const listener_sockets*>& sockets,
                                     unsigned shard) {
    std::vector<socket_handoff> out;
    for (const auto* s : sockets) {
        out.push_back({s->key, ::dup(s->fds[shard])});
    }
    return out;
}

// "in the kernel (kTLS) (ktls = "on"), bytes spliced to the upstream":
// where a listener's records go, and why.
std::string describe(const generation::record_choice& records) {
    std::string out = std::string(records.kernel ? "in the kernel (kTLS)" : "in userspace") + " (" +
                      records.why + ")";
    if (records.splice) {
        out += ", bytes spliced to the upstream";
    } else if (records.copies) {
        out += ", bytes copied (splice = false)";
    }
    return out;
}

void log_listening(const listener_config& l, const listener_sockets& s,
                   const generation::record_choice& records) {
    TLSTERM_LOG(log_level::info, "listener %s listening on %s -> upstream %s; TLS records %s",
                l.name.c_str(), s.bound.to_string().c_str(), l.upstream.c_str(),
                describe(records).c_str());
}

// Where each TLS upstream's pooled connections keep their records; on a
// reload (`before` set) only for upstreams that are new or changed path.
void log_upstream_records(const generation& g, const generation* before) {
    const config& c = g.cfg();
    for (std::size_t u = 0; u < c.upstreams.size(); ++u) {
        const auto& up = c.upstreams[u];
        if (up.tls.mode == upstream_tls_mode::none) {
            continue;
        }
        const auto& records = g.upstream_records(u);
        if (before != nullptr) {
            const auto& was = before->cfg().upstreams;
            auto it = std::ranges::find(was, up.name, &upstream_config::name);
            if (it != was.end() &&
                before->upstream_records(static_cast<std::size_t>(it - was.begin())).kernel ==
                    records.kernel) {
                continue;
            }
        }
        TLSTERM_LOG(log_level::info,
                    "upstream %s: pooled TLS connections keep their records %s after their first "
                    "exchange",
                    up.name.c_str(), describe(records).c_str());
    }
}

}  // namespace

controller::controller(options opts, std::shared_ptr<generation> first)
    : _opts(std::move(opts)),
      _current(std::move(first)),
      _identities(_current->cfg().limits.resumable_identities) {}

controller::~controller() {
    for (auto& s : _sockets) {
        close_listener(s);
    }
}

std::expected<void, std::string> controller::start(std::vector<listener_sockets> inherited) {
    const config& cfg = _current->cfg();
    unsigned shards = _current->shards();
    std::vector<const listener_sockets*> all;
    for (const auto& l : cfg.listeners) {
        std::string key = listener_key(l);
        auto it = std::ranges::find_if(inherited, [&](const listener_sockets& s) {
            return s.key == key && s.fds.size() == shards;
        });
        if (it != inherited.end()) {
            _sockets.push_back(std::move(*it));
            inherited.erase(it);
        } else {
            auto opened = open_listener(l, shards);
            if (!opened) {
                for (auto& s : inherited) {
                    close_listener(s);
                }
                return std::unexpected(opened.error().to_string());
            }
            _sockets.push_back(std::move(*opened));
        }
    }
    for (auto& s : inherited) {
        TLSTERM_LOG(log_level::warn,
                    "listener %s (%zu sockets) from the previous process is not in this "
                    "configuration (or has another shard count); closed",
                    s.key.c_str(), s.fds.size());
        close_listener(s);
    }
    for (const auto& s : _sockets) {
        all.push_back(&s);
    }
    for (unsigned i = 0; i < shards; ++i) {
        shard_setup setup;
        setup.index = i;
        setup.cpu = cfg.runtime.pin_cpus ? _opts.cpus[i % _opts.cpus.size()] : -1;
        setup.minimal_ring = _opts.minimal_ring;
        setup.shard_count = shards;
        setup.first.gen = _current;
        setup.first.sockets = handoffs(all, i);
        setup.identities = &_identities;
        auto sh = std::make_unique<shard>(std::move(setup));
        if (auto started = sh->start(); !started) {
            for (auto& s : _shards) {
                s->request_drain();
            }
            return std::unexpected("shard " + std::to_string(i) + ": " + started.error());
        }
        _shards.push_back(std::move(sh));
    }
    _current->crls().start();
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
        log_listening(cfg.listeners[i], _sockets[i], _current->records(i));
    }
    log_upstream_records(*_current, nullptr);
    return {};
}

bool controller::reload(const std::string& why, bool quiet_repeat) {
    const auto started = std::chrono::steady_clock::now();
    generation::options o;
    o.auto_shards = static_cast<uint32_t>(_opts.cpus.size());
    o.previous = _current.get();
    auto built = generation::build(_opts.config_path, o);
    if (!built) {
        if (built.error() != _last_failure || !quiet_repeat) {
            TLSTERM_LOG(log_level::error, "reload (%s) failed; still serving generation %llu: %s",
                        why.c_str(), static_cast<unsigned long long>(_current->number()),
                        built.error().c_str());
            _last_failure = built.error();
        }
        return false;
    }
    _last_failure.clear();
    std::shared_ptr<generation> next = std::move(*built);
    const config& cfg = next->cfg();
    unsigned shards = next->shards();

    // Sockets: kept by key, opened for added listeners, closed for removed ones.
    std::vector<listener_sockets> kept;
    std::vector<const listener_sockets*> added;
    std::vector<std::size_t> added_index;
    std::vector<listener_sockets> old = std::move(_sockets);
    _sockets.clear();
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
        std::string key = listener_key(cfg.listeners[i]);
        auto it =
            std::ranges::find_if(old, [&](const listener_sockets& s) { return s.key == key; });
        if (it != old.end()) {
            kept.push_back(std::move(*it));
            old.erase(it);
            continue;
        }
        auto opened = open_listener(cfg.listeners[i], shards);
        if (!opened) {
            TLSTERM_LOG(log_level::error, "reload (%s) failed; still serving generation %llu: %s",
                        why.c_str(), static_cast<unsigned long long>(_current->number()),
                        opened.error().to_string().c_str());
            for (std::size_t j = 0; j < kept.size(); ++j) {
                if (std::ranges::find(added_index, j) != added_index.end()) {
                    close_listener(kept[j]);  // opened for this reload
                } else {
                    old.push_back(std::move(kept[j]));  // still running
                }
            }
            _sockets = std::move(old);
            return false;
        }
        kept.push_back(std::move(*opened));
        added_index.push_back(i);
    }
    _sockets = std::move(kept);
    for (std::size_t i : added_index) {
        added.push_back(&_sockets[i]);
    }
    for (unsigned i = 0; i < shards; ++i) {
        mailbox_message m;
        m.gen = next;
        m.sockets = handoffs(added, i);
        _shards[i]->post(std::move(m));
    }
    for (auto& s : old) {
        TLSTERM_LOG(log_level::info, "listener %s removed: stopped accepting", s.key.c_str());
        close_listener(s);
    }
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
        const auto& records = next->records(i);
        if (std::ranges::find(added_index, i) != added_index.end()) {
            log_listening(cfg.listeners[i], _sockets[i], records);
            continue;
        }
        // A kept listener whose record path changed says so.
        const config& before = _current->cfg();
        for (std::size_t j = 0; j < before.listeners.size(); ++j) {
            if (before.listeners[j].name == cfg.listeners[i].name &&
                _current->records(j).kernel != records.kernel) {
                TLSTERM_LOG(log_level::info, "listener %s: new connections keep TLS records %s",
                            cfg.listeners[i].name.c_str(), describe(records).c_str());
            }
        }
    }
    log_upstream_records(*next, _current.get());

    _current->crls().stop();
    next->crls().start();
    _current->mark_replaced();
    _replaced.push_back(std::move(_current));
    _current = std::move(next);
    _identities.set_capacity(_current->cfg().limits.resumable_identities);
    log::set_level(cfg.runtime.log);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    TLSTERM_LOG(log_level::info,
                "configuration reloaded (%s): generation %llu in %lld ms; %zu listener(s) added, "
                "%zu removed; %llu generation(s) live",
                why.c_str(), static_cast<unsigned long long>(_current->number()),
                static_cast<long long>(ms), added_index.size(), old.size(),
                static_cast<unsigned long long>(generation::live()));
    return true;
}

void controller::check_files(uint64_t now_ms) {
    _current->rotate_ticket_keys(std::time(nullptr));
    uint32_t interval = _current->cfg().runtime.watch_interval_s;
    if (interval == 0 || now_ms < _next_check_ms) {
        return;
    }
    _next_check_ms = now_ms + uint64_t{interval} * 1000;
    std::string changed;
    for (auto& w : _current->watches()) {
        if (w.changed()) {
            changed += (changed.empty() ? "" : ", ") + w.path().string();
        }
    }
    if (!changed.empty()) {
        reload("changed: " + changed, true);
    }
}

void controller::collect() {
    std::erase_if(_replaced,
                  [](const std::shared_ptr<generation>& g) { return g.use_count() == 1; });
}

void controller::stop_listening(bool keep_idle) {
    for (auto& s : _shards) {
        s->request_drain(keep_idle);
    }
    for (auto& s : _sockets) {
        close_listener(s);
    }
    _sockets.clear();
}

void controller::drain(bool keep_idle) {
    stop_listening(keep_idle);
    for (auto& s : _shards) {
        s->join();
    }
    _current->crls().stop();
    collect();
}

}  // namespace tlsterm::shard
