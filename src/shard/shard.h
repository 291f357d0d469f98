// One shard: a thread with its own io_uring ring, its own listening socket
// per listener (SO_REUSEPORT), its connections, buffer ring, timers and
// counters. Nothing here is shared with other shards. The main thread talks
// to a shard only through its mailbox (post(): a new configuration
// generation, the sockets of listeners it adds, or drain) and reads its
// counters (relaxed atomics).
//
// The mailbox is a mutex-guarded queue and an eventfd: the shard reads the
// eventfd through its ring, so the lock is taken once per delivery, between
// two completions, never on the path of a connection. A new generation is
// installed whole between two completions: new connections take it from
// then on; the previous one's connections keep theirs (HTTP ones close after
// their next response), its pools retire, and it is let go once none of its
// connections (client or pooled) is left.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <tlsterm/config.h>
#include <tlsterm/counters.h>

#include "tls/identity_cache.h"

#include "shard/generation.h"

namespace tlsterm::shard {

// A listener's socket for one shard, handed over with the generation that
// adds the listener; the shard owns `fd`.
struct socket_handoff {
    std::string key;  // listener_key()
    int fd = -1;
};

struct mailbox_message {
    std::shared_ptr<const generation> gen;  // a new generation, or null
    std::vector<socket_handoff> sockets;    // for listeners `gen` adds
    bool drain = false;                     // stop accepting, finish, exit
    // With drain: HTTP connections waiting for their next request are not
    // cut (a request could cross the close); each ends after its next
    // response, or at drain_timeout_ms (a binary upgrade).
    bool keep_idle = false;
};

struct shard_setup {
    uint32_t index = 0;
    int cpu = -1;               // pin to this CPU; -1 = no pinning
    uint32_t shard_count = 1;   // shards in the process (admission divides its limits)
    bool minimal_ring = false;  // TLSTERM_IO_URING=minimal (see runtime::uring::create)
    mailbox_message first;      // the generation to start with and its sockets
    // The process's client identities for resumption (outlives the shard).
    tls::identity_cache* identities = nullptr;
};

class shard {
  public:
    explicit shard(shard_setup setup);
    ~shard();
    shard(const shard&) = delete;
    shard& operator=(const shard&) = delete;

    // Starts the thread and waits until its ring is set up and the first
    // generation installed. The error is one line.
    std::expected<void, std::string> start();
    // Delivers `m` (callable from any thread); the shard acts on it after
    // its current completion.
    void post(mailbox_message m);
    // Stop accepting; finish open connections within drain_timeout_ms.
    void request_drain(bool keep_idle = false);
    void join();

    const shard_counters& counters() const { return *_counters; }
    // Setup decisions of the ring ("io_uring setup: ..."), for one log line.
    const std::vector<std::string>& setup_notes() const { return _notes; }
    // The generation number new connections take, and how many this shard
    // still holds (the current one and those with connections left).
    uint64_t current_generation() const { return _current.load(std::memory_order_relaxed); }
    uint64_t held_generations() const { return _held.load(std::memory_order_relaxed); }

  private:
    struct loop;
    std::vector<mailbox_message> take_mail();

    shard_setup _setup;
    int _mailbox_fd = -1;    // eventfd: mail is waiting
    std::mutex _mail_mutex;  // guards _mail
    std::vector<mailbox_message> _mail;
    std::unique_ptr<shard_counters> _counters;
    std::vector<std::string> _notes;
    std::atomic<uint64_t> _current{0};
    std::atomic<uint64_t> _held{0};
    std::thread _thread;
};

}  // namespace tlsterm::shard
