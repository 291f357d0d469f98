#include "shard/upgrade.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace tlsterm::shard::upgrade {

namespace {

constexpr int handover_timeout_s = 120;           // the new process builds its generation meanwhile
constexpr std::size_t max_fds_per_message = 250;  // below SCM_MAX_FD (253)

sockaddr_un address_of(const std::filesystem::path& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    return a;
}

// The other end runs as this user (or root): listening sockets are handed
// only between processes of the same account, whatever the socket file's
// permissions.
bool same_user(int fd) {
    ucred peer{};
    socklen_t len = sizeof(peer);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
        return false;
    }
    return peer.uid == ::geteuid() || peer.uid == 0;
}

void set_timeout(int fd, int seconds) {
    timeval tv{seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool send_line(int fd, const std::string& line, const std::vector<int>& fds = {}) {
    std::string text = line + "\n";
    iovec iov{text.data(), text.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<std::size_t>(fds.size(), 1)));
    if (!fds.empty()) {
        msg.msg_control = control.data();
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        if (c == nullptr) {
            return false;
        }
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    return ::sendmsg(fd, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
}

// One line (each is sent in one message, with its descriptors); false on
// EOF, error or timeout.
bool receive_line(int fd, std::string& line, std::vector<int>& fds) {
    char buf[512];
    iovec iov{buf, sizeof(buf)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * max_fds_per_message));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0) {
        return false;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            const auto* data = reinterpret_cast<const int*>(CMSG_DATA(c));
            fds.insert(fds.end(), data, data + count);
        }
    }
    line.assign(buf, static_cast<std::size_t>(n));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        line.pop_back();
    }
    return (msg.msg_flags & MSG_CTRUNC) == 0;
}

}  // namespace

std::expected<std::optional<takeover>, std::string> request(const std::filesystem::path& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return std::unexpected(std::string("upgrade socket: ") + std::strerror(errno));
    }
    sockaddr_un a = address_of(path);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        int e = errno;
        ::close(fd);
        if (e == ENOENT || e == ECONNREFUSED) {
            return std::optional<takeover>{};  // nobody runs there
        }
        return std::unexpected("runtime.upgrade_socket " + path.string() + ": " + std::strerror(e));
    }
    if (!same_user(fd)) {
        ::close(fd);
        return std::unexpected("runtime.upgrade_socket " + path.string() +
                               ": the process listening there runs as another user");
    }
    set_timeout(fd, handover_timeout_s);
    takeover t;
    t.fd = fd;
    auto fail = [&](const std::string& why) {
        for (auto& s : t.sockets) {
            close_listener(s);
        }
        ::close(fd);
        return std::unexpected("binary upgrade from " + path.string() + ": " + why);
    };
    if (!send_line(fd, "TAKEOVER " + std::to_string(::getpid()))) {
        return fail(std::string("send: ") + std::strerror(errno));
    }
    for (;;) {
        std::string line;
        std::vector<int> fds;
        if (!receive_line(fd, line, fds)) {
            for (int f : fds) {
                ::close(f);
            }
            return fail("the running process did not answer");
        }
        if (line.rfind("END ", 0) == 0) {
            t.from = static_cast<pid_t>(std::atol(line.c_str() + 4));
            break;
        }
        // "L <key> <count>"
        auto sp = line.rfind(' ');
        if (line.rfind("L ", 0) != 0 || sp == std::string::npos || sp < 2) {
            for (int f : fds) {
                ::close(f);
            }
            return fail("unexpected message: " + line.substr(0, 80));
        }
        std::string key = line.substr(2, sp - 2);
        auto it = std::ranges::find_if(t.sockets,
                                       [&](const listener_sockets& s) { return s.key == key; });
        if (it == t.sockets.end()) {
            t.sockets.push_back({key, {}, {}});
            it = t.sockets.end() - 1;
        }
        it->fds.insert(it->fds.end(), fds.begin(), fds.end());
    }
    for (auto& s : t.sockets) {
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        if (!s.fds.empty() &&
            ::getsockname(s.fds[0], reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
            s.bound = socket_address::from(reinterpret_cast<sockaddr*>(&ss), len);
        }
    }
    return std::optional<takeover>(std::move(t));
}

void confirm(takeover& t) {
    send_line(t.fd, "READY");
    char c;
    while (::read(t.fd, &c, 1) > 0) {
    }
    ::close(t.fd);
    t.fd = -1;
}

void abort(takeover& t) {
    send_line(t.fd, "ABORT");
    ::close(t.fd);
    t.fd = -1;
    for (auto& s : t.sockets) {
        close_listener(s);
    }
}

std::expected<server, std::string> server::listen(const std::filesystem::path& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return std::unexpected(std::string("upgrade socket: ") + std::strerror(errno));
    }
    ::unlink(path.c_str());  // a stale file of a process that is gone (request() found none)
    sockaddr_un a = address_of(path);
    mode_t mask = ::umask(0077);  // created 0600: no window where others may connect
    int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    int e = errno;
    ::umask(mask);
    if (bound != 0 || ::listen(fd, 4) != 0) {
        e = bound != 0 ? e : errno;
        ::close(fd);
        return std::unexpected("runtime.upgrade_socket " + path.string() + ": " + std::strerror(e));
    }
    struct stat st {};
    ::stat(path.c_str(), &st);
    return server(path, fd, st.st_ino);
}

server::server(server&& other) noexcept
    : _path(std::move(other._path)), _fd(other._fd), _inode(other._inode) {
    other._fd = -1;
}

server::~server() {
    give_up();
}

void server::give_up() {
    if (_fd < 0) {
        return;
    }
    struct stat st {};
    if (::stat(_path.c_str(), &st) == 0 && st.st_ino == _inode) {
        ::unlink(_path.c_str());  // still ours, not the next process's
    }
    ::close(_fd);
    _fd = -1;
}

bool server::serve(const std::vector<listener_sockets>& sockets, pid_t& who) {
    int c = ::accept4(_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
        return false;
    }
    set_timeout(c, handover_timeout_s);
    std::string line;
    std::vector<int> fds;
    bool took_over = false;
    if (!same_user(c)) {
        TLSTERM_LOG(log_level::warn,
                    "binary upgrade: refused a request on %s from a process of another user",
                    _path.c_str());
    } else if (receive_line(c, line, fds) && line.rfind("TAKEOVER ", 0) == 0) {
        who = static_cast<pid_t>(std::atol(line.c_str() + 9));
        TLSTERM_LOG(log_level::info, "binary upgrade: pid %d asks for the listening sockets",
                    static_cast<int>(who));
        bool sent = true;
        for (const auto& s : sockets) {
            for (std::size_t at = 0; sent && at < s.fds.size(); at += max_fds_per_message) {
                std::size_t n = std::min(max_fds_per_message, s.fds.size() - at);
                std::vector<int> part(s.fds.begin() + static_cast<std::ptrdiff_t>(at),
                                      s.fds.begin() + static_cast<std::ptrdiff_t>(at + n));
                sent = send_line(c, "L " + s.key + " " + std::to_string(n), part);
            }
        }
        sent = sent && send_line(c, "END " + std::to_string(::getpid()));
        std::string verdict;
        std::vector<int> none;
        took_over = sent && receive_line(c, verdict, none) && verdict == "READY";
        if (took_over) {
            give_up();  // before the close: the new process binds the path after it
        } else {
            TLSTERM_LOG(log_level::warn,
                        "binary upgrade: pid %d did not take over (%s); still serving",
                        static_cast<int>(who), verdict.empty() ? "no answer" : verdict.c_str());
        }
    }
    for (int f : fds) {
        ::close(f);
    }
    ::close(c);
    return took_over;
}

}  // namespace tlsterm::shard::upgrade
