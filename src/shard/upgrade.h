// Binary upgrade: a new tlsterm takes the listening sockets of the running
// one over a unix socket (runtime.upgrade_socket), as descriptors
// (SCM_RIGHTS). Both processes then hold the same sockets, so no connection
// is refused at any moment: the new one accepts as soon as its shards run,
// the old one stops accepting only after the new one said it is ready,
// and connections waiting in the kernel's accept queues are simply taken by
// the new process.
//
//   new process                          running process
//   connect(upgrade_socket)   ------->   accept (main thread)
//   "TAKEOVER <pid>"          ------->
//                             <-------   "L <key> <n>" + n descriptors, per listener
//                             <-------   "END"
//   start shards on them
//   "READY"                   ------->   unlink and close upgrade_socket,
//                             <-------   close (EOF); drain and exit 0
//   bind upgrade_socket (for the next upgrade)
//
// Anything else ("ABORT", EOF, a timeout) leaves the running process as it
// was. Main thread only; these calls block (bounded by timeouts).
#pragma once

#include <sys/types.h>

#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shard/listen.h"

namespace tlsterm::shard::upgrade {

// The new process's side of a takeover.
struct takeover {
    int fd = -1;     // connection to the running process
    pid_t from = 0;  // its pid, for logs
    std::vector<listener_sockets> sockets;
};

// Asks the process listening at `path` for its sockets; nullopt when none
// listens there (a normal start). The error is one line.
std::expected<std::optional<takeover>, std::string> request(const std::filesystem::path& path);
// The new process runs: tell the old one, and wait (bounded) until it has
// given up `path`.
void confirm(takeover& t);
// The new process could not start: the old one keeps everything.
void abort(takeover& t);

// The running process's side.
class server {
  public:
    // Binds `path` (replacing a stale socket file). One-line error.
    static std::expected<server, std::string> listen(const std::filesystem::path& path);
    server(server&& other) noexcept;
    server& operator=(server&&) = delete;
    ~server();

    int fd() const { return _fd; }
    // Serves the connection waiting on fd(): hands over `sockets` and waits
    // for the verdict. True when the new process took over; then `path` is
    // given up and this process must drain. `who` gets the new pid.
    bool serve(const std::vector<listener_sockets>& sockets, pid_t& who);

  private:
    server(std::filesystem::path path, int fd, ino_t inode)
        : _path(std::move(path)), _fd(fd), _inode(inode) {}
    void give_up();

    std::filesystem::path _path;
    int _fd = -1;
    ino_t _inode = 0;  // of the socket file this process bound
};

}  // namespace tlsterm::shard::upgrade
