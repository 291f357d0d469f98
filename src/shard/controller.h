// The main thread's side of the shards: it builds configuration
// generations, owns the listening sockets, and hands both to the shards
// through their mailboxes.
//
//   reload(): build a new generation from the config file (the same builder
//   as --check); open sockets for the listeners it adds; post it to every
//   shard; let the listeners it drops stop. A build that fails leaves the
//   running generation in place and is logged once, naming the key, file
//   and line.
//
//   check_files(): the watched files of the running generation (config,
//   certificates, keys, CA bundles); a changed content hash reloads.
//
//   collect(): generations no shard holds any more are freed here, on the
//   main thread, and counted.
//
// Used by the main thread only.
#pragma once

#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "shard/generation.h"
#include "shard/listen.h"
#include "shard/shard.h"

namespace tlsterm::shard {

class controller {
  public:
    struct options {
        std::filesystem::path config_path;
        std::vector<int> cpus;      // usable CPUs (shard count for "auto", pinning)
        bool minimal_ring = false;  // TLSTERM_IO_URING=minimal
    };

    // `first` was built by generation::build; `inherited` are listening
    // sockets from a previous process (binary upgrade), matched by key.
    controller(options opts, std::shared_ptr<generation> first);
    ~controller();
    controller(const controller&) = delete;
    controller& operator=(const controller&) = delete;

    // Opens (or adopts) the sockets and starts the shards. One-line error.
    std::expected<void, std::string> start(std::vector<listener_sockets> inherited = {});

    // Rebuilds from the config file; `why` is logged ("SIGHUP", "changed:
    // FILE"). False when the running generation stays. With `quiet_repeat`
    // (the watcher) a failure already logged is not logged again.
    bool reload(const std::string& why, bool quiet_repeat = false);
    // Rotates generated ticket keys when due, and reloads when a watched
    // file changed; call about once a second.
    void check_files(uint64_t now_ms);
    void collect();
    // Stop accepting, let connections finish (see mailbox_message for
    // `keep_idle`); join.
    void drain(bool keep_idle = false);

    const generation& current() const { return *_current; }
    const std::vector<std::unique_ptr<shard>>& shards() const { return _shards; }
    const std::vector<listener_sockets>& sockets() const { return _sockets; }
    // Stops accepting everywhere and closes this process's listening
    // sockets (their copies in another process live on).
    void stop_listening(bool keep_idle = false);

  private:
    options _opts;
    std::shared_ptr<generation> _current;
    // Client identities of session tickets, shared by the shards and kept
    // across reloads (declared before them: it outlives every shard).
    tls::identity_cache _identities;
    std::vector<std::shared_ptr<generation>> _replaced;  // until no shard holds them
    std::vector<listener_sockets> _sockets;              // the current listeners'
    std::vector<std::unique_ptr<shard>> _shards;
    std::string _last_failure;  // a failed build is logged once until it changes
    uint64_t _next_check_ms = 0;
};

}  // namespace tlsterm::shard
