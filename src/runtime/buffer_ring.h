// A provided-buffer ring (IORING_REGISTER_PBUF_RING): the kernel picks a
// buffer only when data arrives, so an idle connection with a multishot recv
// armed holds no receive memory.
//
// Ownership: a completion carrying IORING_CQE_F_BUFFER hands buffer `id` to
// the shard. Wrap it in a buffer_handle at once; the handle gives it back to
// the kernel when destroyed (after the send that carries its bytes
// completes, or after its bytes were copied into TLS).
#pragma once

#include <liburing.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace tlsterm::runtime {

class buffer_ring {
  public:
    // `count`: a power of two up to 32768. `size`: bytes per buffer.
    static std::expected<std::unique_ptr<buffer_ring>, std::string> create(io_uring* ring,
                                                                           uint16_t group,
                                                                           uint16_t count,
                                                                           uint32_t size);
    // Buffers no kernel fills: a test puts received bytes in one with
    // fill() and names it in the completion it scripts.
    static std::unique_ptr<buffer_ring> scripted(uint16_t count, uint32_t size);
    ~buffer_ring();
    buffer_ring(const buffer_ring&) = delete;
    buffer_ring& operator=(const buffer_ring&) = delete;

    uint16_t group() const { return _group; }
    uint32_t buffer_size() const { return _size; }
    uint16_t count() const { return _count; }
    uint32_t available() const { return _available; }  // buffers the kernel may fill

    std::span<uint8_t> data(uint16_t id) {
        return {_memory.get() + static_cast<std::size_t>(id) * _size, _size};
    }
    // The kernel consumed buffer `id` (a completion named it).
    void taken() { --_available; }
    // Gives buffer `id` back to the kernel.
    void recycle(uint16_t id);
    // Scripted: copies `bytes` into a free buffer and returns its id, as the
    // kernel would pick it for a receive (nullopt when none is free).
    std::optional<uint16_t> fill(std::span<const uint8_t> bytes);

  private:
    buffer_ring() = default;

    io_uring* _ring = nullptr;
    io_uring_buf_ring* _br = nullptr;
    std::unique_ptr<uint8_t[]> _memory;
    uint16_t _group = 0;
    uint16_t _count = 0;
    uint32_t _size = 0;
    uint32_t _available = 0;
    std::vector<uint16_t> _free;  // scripted: the buffers no completion holds
};

// Move-only ownership of one received buffer's bytes.
class buffer_handle {
  public:
    buffer_handle() = default;
    buffer_handle(buffer_ring* ring, uint16_t id, uint32_t length)
        : _ring(ring), _id(id), _length(length) {}
    ~buffer_handle() { reset(); }
    buffer_handle(buffer_handle&& o) noexcept
        : _ring(std::exchange(o._ring, nullptr)), _id(o._id), _length(o._length) {}
    buffer_handle& operator=(buffer_handle&& o) noexcept {
        if (this != &o) {
            reset();
            _ring = std::exchange(o._ring, nullptr);
            _id = o._id;
            _length = o._length;
        }
        return *this;
    }
    buffer_handle(const buffer_handle&) = delete;
    buffer_handle& operator=(const buffer_handle&) = delete;

    explicit operator bool() const { return _ring != nullptr; }
    std::span<uint8_t> bytes() const { return _ring->data(_id).first(_length); }
    void reset() {
        if (_ring != nullptr) {
            _ring->recycle(_id);
            _ring = nullptr;
        }
    }

  private:
    buffer_ring* _ring = nullptr;
    uint16_t _id = 0;
    uint32_t _length = 0;
};

}  // namespace tlsterm::runtime
