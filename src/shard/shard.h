// One shard: a thread with its own io_uring ring, its own listening socket
// per listener (SO_REUSEPORT), its connections, buffer ring, timers and
// counters. Nothing here is shared with other shards; the main thread talks
// to a shard only through request_drain() (an eventfd) and reads its
// counters (relaxed atomics).
#pragma once

#include <sys/types.h>

#include <expected>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <tlsterm/config.h>
#include <tlsterm/counters.h>

#include "crl/manager.h"
#include "tls/client_auth.h"

namespace tlsterm::shard {

struct shard_setup {
    uint32_t index = 0;
    std::shared_ptr<const config> cfg;
    std::vector<int> listener_fds;  // this shard's socket per listener, listening; owned
    int cpu = -1;                   // pin to this CPU; -1 = no pinning
    uint32_t shard_count = 1;       // shards in the process (admission divides its limits)
    bool minimal_ring = false;      // TLSTERM_IO_URING=minimal (see ring::uring::create)
    const tls::trust_anchors* anchors = nullptr;  // CAs of every ca_files; outlives the shard
    const crl::manager* crls = nullptr;           // revocation state; outlives the shard
};

class shard {
  public:
    explicit shard(shard_setup setup);
    ~shard();
    shard(const shard&) = delete;
    shard& operator=(const shard&) = delete;

    // Starts the thread and waits until its ring and TLS contexts are set
    // up. The error is one line.
    std::expected<void, std::string> start();
    // Stop accepting; finish open connections within drain_timeout_ms.
    // Callable from any thread.
    void request_drain();
    void join();

    const shard_counters& counters() const { return *_counters; }
    // Setup decisions of the ring ("io_uring setup: ..."), for one log line.
    const std::vector<std::string>& setup_notes() const { return _notes; }

  private:
    struct loop;
    void run();

    shard_setup _setup;
    int _control_fd = -1;  // eventfd
    std::unique_ptr<shard_counters> _counters;
    std::vector<std::string> _notes;
    std::thread _thread;
};

}  // namespace tlsterm::shard
