// Keeps the CRL store current, off the hot path. One manager per process,
// with its own thread:
//  - CRL files are re-read when they change (checked every
//    crl.check_interval_s) and on SIGHUP (request_reload());
//  - CRL URLs are fetched before their CRLs' nextUpdate, at least every
//    crl.refresh_interval_s, with backoff after failures;
//  - each new CRL is verified against its CA before it is used; a source
//    that fails (unreadable, corrupt, bad signature, download error) keeps
//    its last good CRLs and the failure is logged and counted;
//  - every change builds a new immutable store and publishes it with one
//    pointer swap. Shards pick it up at their next handshake through a
//    reader, which costs one relaxed atomic load while nothing changed:
//    handshakes never wait for a reload.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <tlsterm/config.h>

#include "common/watch.h"
#include "crl/store.h"

namespace tlsterm::crl {

// The state of one CRL source, for logs and metrics.
struct source_status {
    std::string name;  // path or URL
    std::size_t crls = 0;
    std::size_t entries = 0;
    std::time_t this_update = 0;             // newest among its CRLs
    std::optional<std::time_t> next_update;  // earliest among its CRLs
    std::time_t last_attempt = 0;            // 0 = never
    std::time_t last_success = 0;            // 0 = never
    std::string last_error;                  // empty after a success
};

class manager {
  public:
    // Loads every source once. A file that fails is an error (the config
    // check already read it); a URL that fails is logged, retried, and
    // leaves its CAs without a CRL until it succeeds.
    // With `fetch_urls` false (a config check) URLs are not downloaded.
    // With `previous` (the running generation's manager) and the same CAs,
    // its last good CRLs carry over: a URL source keeps its CRLs and its
    // refresh schedule (a reload while the publisher is down must not drop
    // a revocation), a file whose content is unchanged is not parsed again.
    static std::expected<std::unique_ptr<manager>, std::string> create(
        const config& cfg, store::ca_list cas, bool fetch_urls = true,
        const manager* previous = nullptr);
    ~manager();
    manager(const manager&) = delete;
    manager& operator=(const manager&) = delete;

    void start();  // the refresh thread
    void stop();
    // Re-read every changed file and re-fetch every URL now (SIGHUP).
    void request_reload();

    std::shared_ptr<const store> current() const;
    uint64_t generation() const { return _generation.load(std::memory_order_acquire); }
    std::vector<source_status> status() const;

    uint64_t reloads() const { return _reloads.load(std::memory_order_relaxed); }
    uint64_t failures() const { return _failures.load(std::memory_order_relaxed); }

    // One per shard: a cached snapshot, refreshed when the generation moves.
    class reader {
      public:
        explicit reader(const manager* m) : _m(m) {}
        const std::shared_ptr<const store>& current();

      private:
        const manager* _m;
        uint64_t _generation = 0;
        std::shared_ptr<const store> _store;
    };

  private:
    struct source;
    // What a source hands to the next generation's manager.
    struct carried {
        std::string name;
        crl_list crls;
        source_status status;
        std::time_t due = 0;
        std::time_t backoff = 0;
        std::optional<file_watch> watch;
    };
    manager() = default;
    std::vector<carried> carry() const;
    // Loads one source; true when its CRLs changed.
    bool load(source& s, std::time_t now);
    std::time_t fetch_gap() const;  // shortest time between two downloads of one URL
    void publish();
    void run();

    store::ca_list _cas;
    crl_lifecycle_config _options;
    std::vector<std::unique_ptr<source>> _sources;  // touched by the manager thread only

    mutable std::mutex _mutex;  // guards _current, _status, _carried, _reload_requested, _stop
    std::condition_variable _wake;
    std::shared_ptr<const store> _current;
    std::vector<source_status> _status;
    std::vector<carried> _carried;
    bool _reload_requested = false;
    bool _stop = false;
    std::atomic<uint64_t> _generation{0};
    std::atomic<uint64_t> _reloads{0};
    std::atomic<uint64_t> _failures{0};
    std::thread _thread;
};

}  // namespace tlsterm::crl
