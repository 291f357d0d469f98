#include "crl/serial_set.h"

#include <sys/mman.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "x509/certificate.h"

namespace tlsterm::crl {

namespace {

// Maximum load: 3 of 4 slots used keeps linear probes short.
constexpr std::size_t load_num = 3;
constexpr std::size_t load_den = 4;

uint64_t mix(uint64_t x) {
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return x;
}

uint64_t hash_bytes(std::span<const uint8_t> s, uint64_t seed) {
    uint64_t h = seed ^ (s.size() * 0x9e3779b97f4a7c15ull);
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = mix(h ^ w);
    }
    uint64_t tail = 0;
    for (std::size_t j = 0; i < s.size(); ++i, ++j) {
        tail |= static_cast<uint64_t>(s[i]) << (8 * j);
    }
    return mix(h ^ tail ^ 0x5555555555555555ull);
}

uint64_t random_seed() {
    uint64_t seed = 0;
    if (::getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
        seed = reinterpret_cast<uintptr_t>(&seed) * 0x9e3779b97f4a7c15ull;
    }
    return seed;
}

// The tag kept for a hash: 16 bits not used to pick the slot, never 0.
uint16_t tag_of(uint64_t hash) {
    auto t = static_cast<uint16_t>(hash >> 16);
    return t == 0 ? 1 : t;
}

}  // namespace

void mapping_deleter::operator()(void* p) const {
    if (p != nullptr) {
        ::munmap(p, bytes);
    }
}

template <typename T>
serial_set::mapped<T> serial_set::map_zeroed(std::size_t count) {
    std::size_t bytes = std::max<std::size_t>(count * sizeof(T), 1);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        throw std::bad_alloc();
    }
    if (bytes >= (2u << 20)) {
        ::madvise(p, bytes, MADV_HUGEPAGE);  // best effort: fewer TLB misses per lookup
    }
    return mapped<T>(static_cast<T*>(p), mapping_deleter{bytes});
}

serial_set::builder::builder(std::size_t expected_entries) {
    _entries.reserve(expected_entries);
    _bytes.reserve(expected_entries * 16);
}

void serial_set::builder::add(std::span<const uint8_t> serial) {
    serial = x509::normalize_serial(serial);
    // A DER INTEGER inside a CRL entry cannot come near 64 KiB; the reader
    // refuses such entries before they get here.
    _entries.emplace_back(_bytes.size(), static_cast<uint16_t>(serial.size()));
    _bytes.insert(_bytes.end(), serial.begin(), serial.end());
}

std::size_t serial_set::index_of(uint64_t hash) const {
    // Multiply-shift maps the hash onto [0, capacity) without a power of two.
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::size_t>((static_cast<u128>(hash) * _capacity) >> 64);
}

serial_set serial_set::builder::build() && {
    serial_set s;
    s._seed = random_seed();
    s._capacity = std::max<std::size_t>(16, _entries.size() * load_den / load_num + 1);
    s._tags = map_zeroed<uint16_t>(s._capacity);  // zeroed: all empty
    s._slots = map_zeroed<slot>(s._capacity);
    for (auto [offset, length] : _entries) {
        std::span<const uint8_t> serial(_bytes.data() + offset, length);
        if (serial.empty()) {
            continue;
        }
        if (serial.size() > inline_max) {
            s._long.emplace_back(serial.begin(), serial.end());
            continue;
        }
        uint64_t h = hash_bytes(serial, s._seed);
        std::size_t i = s.index_of(h);
        for (;;) {
            slot& sl = s._slots[i];
            if (s._tags[i] == 0) {
                s._tags[i] = tag_of(h);
                sl.hash = h;
                sl.length = static_cast<uint8_t>(serial.size());
                std::memcpy(sl.bytes, serial.data(), serial.size());
                ++s._size;
                break;
            }
            if (sl.hash == h && sl.length == serial.size() &&
                std::memcmp(sl.bytes, serial.data(), serial.size()) == 0) {
                break;  // listed twice (e.g. base and delta CRL)
            }
            i = i + 1 == s._capacity ? 0 : i + 1;
        }
    }
    std::ranges::sort(s._long);
    auto dup = std::ranges::unique(s._long);
    s._long.erase(dup.begin(), dup.end());
    s._size += s._long.size();
    return s;
}

bool serial_set::contains(std::span<const uint8_t> serial) const {
    serial = x509::normalize_serial(serial);
    if (serial.size() > inline_max) {
        auto less = [](const auto& a, const auto& b) {
            return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
        };
        auto it = std::lower_bound(_long.begin(), _long.end(), serial, less);
        return it != _long.end() && std::ranges::equal(*it, serial);
    }
    if (_capacity == 0 || serial.empty()) {
        return false;
    }
    uint64_t h = hash_bytes(serial, _seed);
    uint16_t tag = tag_of(h);
    std::size_t i = index_of(h);
    for (;;) {
        uint16_t t = _tags[i];
        if (t == 0) {
            return false;
        }
        if (t == tag) {
            const slot& sl = _slots[i];
            if (sl.hash == h && sl.length == serial.size() &&
                std::memcmp(sl.bytes, serial.data(), serial.size()) == 0) {
                return true;
            }
        }
        i = i + 1 == _capacity ? 0 : i + 1;
    }
}

std::size_t serial_set::memory_bytes() const {
    std::size_t n = _capacity * (sizeof(slot) + sizeof(uint16_t));
    for (const auto& l : _long) {
        n += l.capacity() + sizeof(l);
    }
    return n;
}

}  // namespace tlsterm::crl
