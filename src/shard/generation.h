// A configuration generation: everything a connection reads from the
// configuration, built whole by the main thread from one config file and
// then never changed.
//
//   config, trust anchors, CRL manager (revocation state), and per shard the
//   TLS server context of every listener and the client context of every
//   upstream that HTTP listeners use.
//
// Shards hold a generation through std::shared_ptr<const generation>; each
// touches only its own row of contexts (wolfSSL_new on a context is then
// never contended). A connection, and a pooled upstream connection, keeps
// the generation it started with; new ones take the newest. The main thread
// keeps every generation it built until it is the last holder, so the last
// reference (WOLFSSL_CTXs, CRL sets) is always dropped there, never on a
// shard.
//
// build() is the one builder: `tlsterm --check`, startup and every reload go
// through it, so what --check accepts, a reload accepts.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <tlsterm/config.h>

#include "common/watch.h"
#include "crl/manager.h"
#include "tls/client_auth.h"
#include "tls/server_context.h"
#include "tls/ticket_keys.h"
#include "upstream/client_context.h"

namespace tlsterm::shard {

class generation {
  public:
    struct options {
        // Rows of contexts to build when runtime.shards is "auto" (a
        // number in the config wins).
        uint32_t auto_shards = 1;
        const generation* previous = nullptr;  // the running one: what may not change
        bool check_only = false;               // --check: no CRL downloads, one row of contexts
    };

    // Loads `path` and builds everything from it. The error is one line
    // naming the config key path, file and line where it can.
    static std::expected<std::shared_ptr<generation>, std::string> build(
        const std::filesystem::path& path, const options& opts);
    ~generation();
    generation(const generation&) = delete;
    generation& operator=(const generation&) = delete;

    uint64_t number() const { return _number; }  // 1, 2, ... in build order
    const config& cfg() const { return *_cfg; }
    const std::shared_ptr<const config>& cfg_ptr() const { return _cfg; }
    const tls::trust_anchors& anchors() const { return _anchors; }
    uint32_t shards() const { return static_cast<uint32_t>(_server.size()); }
    crl::manager& crls() const { return *_crls; }

    // This shard's context for listener `i` (config order).
    tls::server_context& server_context(uint32_t shard, std::size_t listener) const {
        return *_server[shard][listener];
    }
    // This shard's context for upstream `u` (config order); null when the
    // upstream is plain or no HTTP listener uses it.
    upstream::client_context* client_context(uint32_t shard, std::size_t u) const {
        return _client[shard][u].get();
    }

    // The session ticket keys of listener `i`; nullptr when it issues none.
    // Generated keys are carried over from the previous generation (a
    // listener of the same name), so a reload keeps every ticket valid.
    const std::shared_ptr<tls::ticket_keys>& ticket_keys(std::size_t listener) const {
        return _tickets[listener];
    }
    // Where listener `i`'s connections keep their TLS records after the
    // handshake, and why (for the start log): listeners.tls.ktls against
    // what the kernel can (probed once per build).
    struct record_choice {
        bool kernel = false;
        std::string why;
        // tcp mode on kernel records: the pipe splices (listeners.splice).
        bool splice = false;
        bool copies = false;  // ... or copies (splice = false)
    };
    const record_choice& records(std::size_t listener) const { return _records[listener]; }
    // Where upstream `u`'s pooled TLS connections keep their records after
    // their first exchange: [upstreams.tls] ktls against the same probe.
    const record_choice& upstream_records(std::size_t u) const { return _upstream_records[u]; }

    // Rotates the generated ticket keys that are due (main thread, each
    // tick); logs each rotation, never a key.
    void rotate_ticket_keys(std::time_t now);

    // The files it was built from, as they were just before they were read.
    std::vector<file_watch>& watches() { return _watches; }

    // A newer generation took over: its end is logged.
    void mark_replaced() { _replaced = true; }

    // Generations alive in this process (built and not yet freed).
    static uint64_t live() { return _live.load(std::memory_order_relaxed); }

  private:
    generation() = default;

    uint64_t _number = 0;
    std::shared_ptr<const config> _cfg;
    tls::trust_anchors _anchors;
    std::unique_ptr<crl::manager> _crls;
    std::vector<std::shared_ptr<tls::ticket_keys>> _tickets;                 // [listener]
    std::vector<record_choice> _records;                                     // [listener]
    std::vector<record_choice> _upstream_records;                            // [upstream]
    std::vector<std::vector<std::unique_ptr<tls::server_context>>> _server;  // [shard][listener]
    std::vector<std::vector<std::unique_ptr<upstream::client_context>>>
        _client;  // [shard][upstream]
    std::vector<file_watch> _watches;
    bool _replaced = false;

    static std::atomic<uint64_t> _live;
    static std::atomic<uint64_t> _built;
};

// Why `next` cannot replace `running` at run time, naming the setting; empty
// when it can.
std::string refuse_change(const config& running, const config& next);

}  // namespace tlsterm::shard
