#include "runtime/buffer_ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace tlsterm::runtime {

std::expected<std::unique_ptr<buffer_ring>, std::string> buffer_ring::create(io_uring* ring,
                                                                             uint16_t group,
                                                                             uint16_t count,
                                                                             uint32_t size) {
    if (count == 0 || (count & (count - 1)) != 0 || count > 32768) {
        return std::unexpected("buffer ring size must be a power of two up to 32768");
    }
    std::unique_ptr<buffer_ring> b(new buffer_ring());
    b->_ring = ring;
    b->_group = group;
    b->_count = count;
    b->_size = size;

    // The ring of buffer descriptors must be page aligned.
    std::size_t ring_bytes = sizeof(io_uring_buf) * count;
    void* mem =
        ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
        return std::unexpected("mmap for buffer ring: " + std::string(std::strerror(errno)));
    }
    b->_br = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(mem);
    reg.ring_entries = count;
    reg.bgid = group;
    int rc = io_uring_register_buf_ring(ring, &reg, 0);
    if (rc != 0) {
        ::munmap(mem, ring_bytes);
        b->_br = nullptr;
        return std::unexpected("io_uring_register_buf_ring: " + std::string(std::strerror(-rc)) +
                               " (kernel < 5.19?)");
    }
    b->_memory = std::make_unique_for_overwrite<uint8_t[]>(static_cast<std::size_t>(count) * size);
    io_uring_buf_ring_init(b->_br);
    int mask = io_uring_buf_ring_mask(count);
    for (uint16_t id = 0; id < count; ++id) {
        io_uring_buf_ring_add(b->_br, b->data(id).data(), size, id, mask, id);
    }
    io_uring_buf_ring_advance(b->_br, count);
    b->_available = count;
    return b;
}

std::unique_ptr<buffer_ring> buffer_ring::scripted(uint16_t count, uint32_t size) {
    std::unique_ptr<buffer_ring> b(new buffer_ring());
    b->_count = count;
    b->_size = size;
    b->_memory = std::make_unique_for_overwrite<uint8_t[]>(static_cast<std::size_t>(count) * size);
    for (uint16_t id = count; id > 0; --id) {
        b->_free.push_back(static_cast<uint16_t>(id - 1));
    }
    b->_available = count;
    return b;
}

std::optional<uint16_t> buffer_ring::fill(std::span<const uint8_t> bytes) {
    if (_free.empty() || bytes.size() > _size) {
        return std::nullopt;
    }
    uint16_t id = _free.back();
    _free.pop_back();
    std::memcpy(data(id).data(), bytes.data(), bytes.size());
    return id;
}

buffer_ring::~buffer_ring() {
    if (_br != nullptr) {
        io_uring_unregister_buf_ring(_ring, _group);
        ::munmap(_br, sizeof(io_uring_buf) * _count);
    }
}

void buffer_ring::recycle(uint16_t id) {
    if (_br == nullptr) {  // scripted
        _free.push_back(id);
        ++_available;
        return;
    }
    io_uring_buf_ring_add(_br, data(id).data(), _size, id, io_uring_buf_ring_mask(_count), 0);
    io_uring_buf_ring_advance(_br, 1);
    ++_available;
}

}  // namespace tlsterm::runtime
