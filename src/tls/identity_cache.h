// The client identities session tickets refer to: verified client
// certificates (chain and facts) by the SHA-256 of the leaf, for the resumed
// handshakes of those tickets. Content-addressed: a ticket can only name a
// certificate whose key its client proved, so whatever entry the digest
// finds is that certificate.
//
// One per process, shared by every shard (a client resumes on whichever
// shard its new connection lands) and kept across reloads. Split into
// stripes by digest, each behind its own mutex, taken once per full
// handshake that issues a ticket and once per resumption: shards rarely
// meet on one. Bounded: each stripe drops its least recently used entry when
// full (a ticket naming it then gets a full handshake).
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "tls/client_auth.h"

namespace tlsterm::tls {

class identity_cache {
  public:
    explicit identity_cache(std::size_t capacity) { set_capacity(capacity); }

    void insert(std::shared_ptr<const verified_identity> id);
    // The entry for `leaf_sha256`, made the most recent; nullptr on a miss.
    std::shared_ptr<const verified_identity> find(const std::array<uint8_t, 32>& leaf_sha256);
    // Entries kept in all (0: none; tickets then name no identity that
    // resumes). Callable from any thread.
    void set_capacity(std::size_t capacity);
    std::size_t size();

  private:
    static constexpr std::size_t stripe_count = 16;
    struct digest_hash {
        std::size_t operator()(const std::array<uint8_t, 32>& d) const;
    };
    using lru = std::list<std::shared_ptr<const verified_identity>>;
    struct stripe {
        std::mutex lock;
        std::size_t capacity = 0;  // guarded by lock
        lru order;                 // most recent first; guarded by lock
        std::unordered_map<std::array<uint8_t, 32>, lru::iterator, digest_hash> index;
    };

    stripe& stripe_of(const std::array<uint8_t, 32>& d) { return _stripes[d[31] % stripe_count]; }
    static void trim(stripe& s);

    std::array<stripe, stripe_count> _stripes;
};

}  // namespace tlsterm::tls
