// user_data for io_uring submissions: {slot, generation, op} packed in 64
// bits, never a pointer. A completion whose generation no longer matches
// its slot belongs to a connection that was closed and whose slot was reused:
// the shard drops it instead of touching the new occupant.
//
//   bits 63..56  op (the owner's operation kind)
//   bits 55..32  generation (24 bits, wraps)
//   bits 31..0   slot index
#pragma once

#include <cstdint>

namespace tlsterm::runtime {

inline constexpr uint32_t generation_mask = 0x00ff'ffff;

struct op_id {
    uint32_t slot = 0;
    uint32_t generation = 0;  // only the low 24 bits are kept
    uint8_t op = 0;

    constexpr uint64_t encode() const {
        return (static_cast<uint64_t>(op) << 56) |
               (static_cast<uint64_t>(generation & generation_mask) << 32) | slot;
    }
    static constexpr op_id decode(uint64_t user_data) {
        return op_id{static_cast<uint32_t>(user_data & 0xffff'ffff),
                     static_cast<uint32_t>((user_data >> 32) & generation_mask),
                     static_cast<uint8_t>(user_data >> 56)};
    }
    friend constexpr bool operator==(const op_id&, const op_id&) = default;
};

// The next generation of a slot, skipping 0 so that a zeroed user_data
// never matches a live slot.
constexpr uint32_t next_generation(uint32_t g) {
    uint32_t n = (g + 1) & generation_mask;
    return n == 0 ? 1 : n;
}

}  // namespace tlsterm::runtime
