// A file descriptor closed when its owner goes (or is handed on with
// release()).
#pragma once

#include <unistd.h>

#include <utility>

namespace tlsterm {

class unique_fd {
  public:
    unique_fd() = default;
    explicit unique_fd(int fd) : _fd(fd) {}
    ~unique_fd() { reset(); }
    unique_fd(unique_fd&& o) noexcept : _fd(o.release()) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) {
            reset(o.release());
        }
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;

    int get() const { return _fd; }
    bool valid() const { return _fd >= 0; }
    // No longer owned: the caller closes it.
    int release() { return std::exchange(_fd, -1); }
    void reset(int fd = -1) {
        if (_fd >= 0) {
            ::close(_fd);
        }
        _fd = fd;
    }

  private:
    int _fd = -1;
};

}  // namespace tlsterm
