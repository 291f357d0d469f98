// The revoked serial numbers of one issuer: a flat open-addressing hash set
// with the serials stored inline in its slots and no heap node per entry.
// Probing walks a parallel array of 16-bit tags (part of each serial's hash)
// first: a miss, the common case, usually reads one cache line of tags and no
// slot; a hit reads one slot more. Both arrays are mapped with huge pages
// when large, so a lookup in a multi-million-entry set costs about the same
// TLB work as in a small one.
//
// Serials are DER INTEGER contents, compared after dropping leading 0x00
// octets (a serial's sign padding), so 00 8F.. and 8F.. are the same serial.
// Up to 23 octets are stored inline (RFC 5280 allows 20); longer ones, which
// non-conforming CAs do issue, go to a sorted side table rather than being
// dropped: a revocation is never lost.
//
// Built once (builder), then immutable and safe to read from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace tlsterm::crl {

// Frees an anonymous mapping of `bytes` bytes.
struct mapping_deleter {
    std::size_t bytes = 0;
    void operator()(void* p) const;
};

class serial_set {
  public:
    class builder {
      public:
        explicit builder(std::size_t expected_entries = 0);
        void add(std::span<const uint8_t> serial);
        serial_set build() &&;

      private:
        std::vector<uint8_t> _bytes;                             // serials back to back
        std::vector<std::pair<std::size_t, uint16_t>> _entries;  // offset, length
    };

    serial_set() = default;

    bool contains(std::span<const uint8_t> serial) const;
    std::size_t size() const { return _size; }
    // Bytes held by the set (slots plus side table), for metrics and limits.
    std::size_t memory_bytes() const;

  private:
    static constexpr std::size_t inline_max = 23;
    struct slot {
        uint64_t hash;   // full hash: most probes fail on it without reading bytes
        uint8_t length;  // 0 = empty
        uint8_t bytes[inline_max];
    };
    static_assert(sizeof(slot) == 32);

    std::size_t index_of(uint64_t hash) const;

    // Anonymous mappings, huge-page advised; freed with munmap.
    template <typename T>
    using mapped = std::unique_ptr<T[], mapping_deleter>;
    template <typename T>
    static mapped<T> map_zeroed(std::size_t count);

    mapped<uint16_t> _tags;  // 0 = empty slot
    mapped<slot> _slots;
    std::size_t _capacity = 0;
    std::size_t _size = 0;
    uint64_t _seed = 0;
    std::vector<std::vector<uint8_t>> _long;  // sorted; serials over inline_max octets
};

}  // namespace tlsterm::crl
