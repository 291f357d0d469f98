#include "shard/generation.h"

#include <algorithm>

#include "common/file.h"
#include "common/log.h"
#include "transport/kernel_tls.h"

namespace tlsterm::shard {

std::atomic<uint64_t> generation::_live{0};
std::atomic<uint64_t> generation::_built{0};

namespace {

// The upstreams an HTTP listener routes to (the only ones with pools).
std::vector<bool> pooled_upstreams(const config& c) {
    std::vector<bool> used(c.upstreams.size(), false);
    auto mark = [&](const std::string& name) {
        for (std::size_t u = 0; u < c.upstreams.size(); ++u) {
            if (c.upstreams[u].name == name) {
                used[u] = true;
            }
        }
    };
    for (const auto& l : c.listeners) {
        if (l.mode != listener_mode::http) {
            continue;
        }
        mark(l.upstream);
        for (const auto& r : l.routes) {
            mark(r.upstream);
        }
    }
    return used;
}

// Each listener's and pooled TLS upstream's record path: its ktls setting
// against what the kernel can (the probe runs once, and only when one may
// use it). `on` where the kernel cannot is an error naming the key.
struct record_choices {
    std::vector<generation::record_choice> listeners;
    std::vector<generation::record_choice> upstreams;
};

std::expected<record_choices, std::string> choose_records(const config& c) {
    std::optional<std::expected<void, std::string>> probe;
    // The kernel's verdict for `mode` (not off): empty when it can carry
    // records, else why not; an error when `on` needs it.
    auto kernel_can = [&](ktls_mode mode, const config_origin& origin,
                          const std::string& what) -> std::expected<std::string, std::string> {
        if (!probe) {
            probe = transport::probe_kernel_tls();
        }
        if (*probe) {
            return std::string();
        }
        if (mode == ktls_mode::on) {
            return std::unexpected(
                origin.to_string() + ": " + what +
                ": ktls = \"on\", but this kernel cannot carry TLS records: " + probe->error());
        }
        return "ktls = \"auto\" and this kernel cannot: " + probe->error();
    };
    record_choices out;
    for (const auto& l : c.listeners) {
        generation::record_choice r;
        if (l.tls.ktls == ktls_mode::off) {
            r.why = "ktls = \"off\"";
            out.listeners.push_back(std::move(r));
            continue;
        }
        auto cannot = kernel_can(l.tls.ktls, l.tls.ktls_origin, "listener " + l.name);
        if (!cannot) {
            return std::unexpected(cannot.error());
        }
        if (!cannot->empty()) {
            r.why = *cannot;
        } else if (l.tls.ktls == ktls_mode::automatic && l.mode == listener_mode::http) {
            r.why =
                "ktls = \"auto\" keeps HTTP-mode records in userspace (\"on\" gives them "
                "to the kernel)";
        } else {
            r.kernel = true;
            r.why = l.tls.ktls == ktls_mode::on ? "ktls = \"on\"" : "ktls = \"auto\", tcp mode";
            r.splice = l.mode == listener_mode::tcp && l.splice;
            r.copies = l.mode == listener_mode::tcp && !l.splice;
        }
        out.listeners.push_back(std::move(r));
    }
    // Pooled connections serve HTTP mode, where "auto" keeps userspace
    // records as it does on a listener; the kernel is asked only for "on".
    for (const auto& u : c.upstreams) {
        generation::record_choice r;
        if (u.tls.mode == upstream_tls_mode::none) {
            r.why = "plain upstream";
        } else if (u.tls.ktls == ktls_mode::off) {
            r.why = "ktls = \"off\"";
        } else if (u.tls.ktls == ktls_mode::automatic) {
            r.why =
                "ktls = \"auto\" keeps pooled connections' records in userspace (\"on\" "
                "gives them to the kernel)";
        } else {
            auto cannot = kernel_can(u.tls.ktls, u.tls.ktls_origin, "upstream " + u.name);
            if (!cannot) {
                return std::unexpected(cannot.error());
            }
            r.kernel = true;
            r.why = "ktls = \"on\"";
        }
        out.upstreams.push_back(std::move(r));
    }
    return out;
}

}  // namespace

std::string refuse_change(const config& running, const config& next) {
    if (running.runtime.shards != next.runtime.shards) {
        return "runtime.shards cannot change while running (restart, or upgrade the binary)";
    }
    if (running.runtime.pin_cpus != next.runtime.pin_cpus) {
        return "runtime.pin_cpus cannot change while running (restart, or upgrade the binary)";
    }
    if (running.runtime.upgrade_socket != next.runtime.upgrade_socket) {
        return "runtime.upgrade_socket cannot change while running (restart, or upgrade the "
               "binary)";
    }
    return "";
}

std::expected<std::shared_ptr<generation>, std::string> generation::build(
    const std::filesystem::path& path, const options& opts) {
    // The config file is watched from before its read; the files it names
    // from before the builder reads them (load_config reads them all).
    file_watch config_watch(std::filesystem::absolute(path).lexically_normal());
    auto loaded = load_config(path);
    if (!loaded) {
        return std::unexpected(loaded.error().to_string());
    }
    std::shared_ptr<generation> g(new generation());
    g->_cfg = *loaded;
    const config& c = *g->_cfg;
    if (opts.previous != nullptr) {
        if (std::string why = refuse_change(opts.previous->cfg(), c); !why.empty()) {
            return std::unexpected(path.string() + ": " + why);
        }
    }
    g->_watches.push_back(std::move(config_watch));
    for (std::size_t i = 1; i < c.files.size(); ++i) {
        if (!c.files[i].crl) {  // CRL files: the CRL manager watches them
            g->_watches.emplace_back(c.files[i].file.path);
        }
    }
    auto anchors = tls::load_trust_anchors(c);
    if (!anchors) {
        return std::unexpected(anchors.error());
    }
    g->_anchors = std::move(*anchors);
    auto crls = crl::manager::create(c, g->_anchors.cas, !opts.check_only,
                                     opts.previous != nullptr ? &opts.previous->crls() : nullptr);
    if (!crls) {
        return std::unexpected(crls.error());
    }
    g->_crls = std::move(*crls);

    auto records = choose_records(c);
    if (!records) {
        return std::unexpected(records.error());
    }
    g->_records = std::move(records->listeners);
    g->_upstream_records = std::move(records->upstreams);

    std::time_t now = std::time(nullptr);
    for (const auto& l : c.listeners) {
        std::shared_ptr<tls::ticket_keys> keys;
        if (!l.tls.session_tickets) {
            // none
        } else if (l.tls.session_ticket_key_file) {
            const file_ref& f = *l.tls.session_ticket_key_file;
            auto text = read_file(f.path);
            auto raw = text ? tls::parse_ticket_key_file(*text) : std::unexpected(text.error());
            if (!raw) {
                return std::unexpected(f.origin.to_string() + ": " + f.path.string() + ": " +
                                       raw.error());
            }
            keys = tls::ticket_keys::from_file(*raw);
        } else {
            const generation* p = opts.previous;
            for (std::size_t i = 0; p != nullptr && i < p->cfg().listeners.size(); ++i) {
                if (p->cfg().listeners[i].name == l.name && p->_tickets[i] &&
                    p->_tickets[i]->is_generated()) {
                    keys = p->_tickets[i];
                }
            }
            if (keys) {
                keys->reschedule(l.tls.session_ticket_key_rotation_s,
                                 l.tls.session_ticket_lifetime_s);
            } else {
                keys = tls::ticket_keys::generated(l.tls.session_ticket_key_rotation_s,
                                                   l.tls.session_ticket_lifetime_s, now);
            }
        }
        g->_tickets.push_back(std::move(keys));
    }

    std::vector<bool> pooled = pooled_upstreams(c);
    // A check builds one row: every shard's row is built from the same inputs.
    uint32_t shards = opts.check_only         ? 1
                      : c.runtime.shards != 0 ? c.runtime.shards
                                              : std::max(opts.auto_shards, 1u);
    g->_server.resize(shards);
    g->_client.resize(shards);
    for (uint32_t s = 0; s < shards; ++s) {
        for (std::size_t i = 0; i < c.listeners.size(); ++i) {
            const auto& l = c.listeners[i];
            auto ctx = tls::server_context::create(l.name, l.tls, g->_anchors, g->_tickets[i]);
            if (!ctx) {
                return std::unexpected(l.origin.to_string() + ": listener " + l.name + ": " +
                                       ctx.error());
            }
            g->_server[s].push_back(std::move(*ctx));
        }
        g->_client[s].resize(c.upstreams.size());
        for (std::size_t u = 0; u < c.upstreams.size(); ++u) {
            const auto& up = c.upstreams[u];
            if (!pooled[u] || up.tls.mode == upstream_tls_mode::none) {
                continue;
            }
            auto ctx = upstream::client_context::create(up.tls);
            if (!ctx) {
                return std::unexpected(up.origin.to_string() + ": upstream " + up.name + ": " +
                                       ctx.error());
            }
            g->_client[s][u] = std::move(*ctx);
        }
    }
    g->_number = _built.fetch_add(1, std::memory_order_relaxed) + 1;
    _live.fetch_add(1, std::memory_order_relaxed);
    return g;
}

void generation::rotate_ticket_keys(std::time_t now) {
    for (std::size_t i = 0; i < _tickets.size(); ++i) {
        if (_tickets[i] && _tickets[i]->rotate(now)) {
            TLSTERM_LOG(log_level::info,
                        "listener %s: session ticket key rotated (%zu keys open tickets)",
                        _cfg->listeners[i].name.c_str(), _tickets[i]->size());
        }
    }
}

generation::~generation() {
    if (_number == 0) {
        return;  // a build that failed: never counted
    }
    if (_crls) {
        _crls->stop();
    }
    uint64_t left = _live.fetch_sub(1, std::memory_order_relaxed) - 1;
    if (!_replaced) {
        return;  // the last one, at exit (or a --check)
    }
    TLSTERM_LOG(log_level::info, "configuration generation %llu freed (%llu live)",
                static_cast<unsigned long long>(_number), static_cast<unsigned long long>(left));
}

}  // namespace tlsterm::shard
