// What every ring owner of a shard shares, whatever it is: the ring, the
// provided buffers, the slot table, the deferred-work queue, the counters
// and the time of the completions being handled.
#pragma once

#include <cstdint>

#include <tlsterm/counters.h>

#include "runtime/buffer_ring.h"
#include "runtime/deferred.h"
#include "runtime/ring.h"
#include "runtime/slot_table.h"

namespace tlsterm::runtime {

struct services {
    uring& ring;
    buffer_ring& buffers;
    shard_counters& counters;
    slot_table& slots;      // where every ring owner of the shard lives
    deferred_queue& later;  // run after the completion being handled
    uint64_t now_ms = 0;    // read once per batch of completions
};

}  // namespace tlsterm::runtime
