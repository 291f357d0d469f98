// A FIFO of bytes: append at the tail, consume from the head. Used for
// ciphertext in and out of a TLS session and for plaintext waiting to be
// sent. Memory is reclaimed as it drains (compacted when the consumed head
// outweighs what is left), and released entirely when empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace tlsterm {

class byte_queue {
  public:
    std::size_t size() const { return _buf.size() - _head; }
    bool empty() const { return size() == 0; }
    std::span<const uint8_t> readable() const {
        return std::span<const uint8_t>(_buf).subspan(_head);
    }

    void append(std::span<const uint8_t> data) {
        if (data.empty()) {
            return;
        }
        if (_head > 0 && _head >= _buf.size() / 2) {
            compact();
        }
        _buf.insert(_buf.end(), data.begin(), data.end());
    }

    // Copies up to out.size() bytes from the head and consumes them.
    std::size_t read_into(std::span<uint8_t> out) {
        std::size_t n = out.size() < size() ? out.size() : size();
        if (n > 0) {
            std::memcpy(out.data(), _buf.data() + _head, n);
        }
        consume(n);
        return n;
    }

    void consume(std::size_t n) {
        _head += n;
        if (_head >= _buf.size()) {
            clear();
        }
    }

    // Moves the whole contents into `out` (replacing it), without copying
    // when nothing was consumed yet.
    void move_into(std::vector<uint8_t>& out) {
        if (_head == 0) {
            out.swap(_buf);
            std::vector<uint8_t>().swap(_buf);
        } else {
            out.assign(_buf.begin() + static_cast<std::ptrdiff_t>(_head), _buf.end());
            clear();
        }
    }

    // Drops the contents and gives the memory back.
    void clear() {
        std::vector<uint8_t>().swap(_buf);
        _head = 0;
    }

    std::size_t capacity() const { return _buf.capacity(); }

  private:
    void compact() {
        _buf.erase(_buf.begin(), _buf.begin() + static_cast<std::ptrdiff_t>(_head));
        _head = 0;
    }

    std::vector<uint8_t> _buf;
    std::size_t _head = 0;
};

}  // namespace tlsterm
