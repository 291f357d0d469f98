#include "unit/harness/script.h"

#include <gtest/gtest.h>
#include <linux/tls.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

namespace tlsterm::test {

submission submission::of(const io_uring_sqe& sqe) {
    submission s;
    s.opcode = sqe.opcode;
    s.flags = sqe.flags;
    s.ioprio = sqe.ioprio;
    s.fd = sqe.fd;
    if (sqe.opcode == IORING_OP_SPLICE) {
        s.splice_fd_in = sqe.splice_fd_in;
    }
    s.addr = sqe.addr;
    s.len = sqe.len;
    s.op_flags = sqe.msg_flags;  // one union with rw_flags, cancel_flags...
    s.user_data = sqe.user_data;
    s.id = runtime::op_id::decode(sqe.user_data);
    return s;
}

std::string submission::bytes() const {
    if (opcode == IORING_OP_SENDMSG) {
        const auto* m = reinterpret_cast<const msghdr*>(static_cast<uintptr_t>(addr));
        std::string out;
        for (std::size_t i = 0; i < m->msg_iovlen; ++i) {
            out.append(static_cast<const char*>(m->msg_iov[i].iov_base), m->msg_iov[i].iov_len);
        }
        return out;
    }
    const auto* p = reinterpret_cast<const char*>(static_cast<uintptr_t>(addr));
    return std::string(p, len);
}

uint8_t submission::record_type() const {
    if (opcode != IORING_OP_SENDMSG) {
        return 0;
    }
    const auto* m = reinterpret_cast<const msghdr*>(static_cast<uintptr_t>(addr));
    for (const cmsghdr* c = CMSG_FIRSTHDR(m); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(m), const_cast<cmsghdr*>(c))) {
        if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_SET_RECORD_TYPE) {
            return *CMSG_DATA(c);
        }
    }
    return 0;
}

runtime::features script::multishot() {
    runtime::features f;
    f.multishot_accept = true;
    f.multishot_recv = true;
    return f;
}

runtime::features script::single_shot() {
    return runtime::features{};
}

script::script(const runtime::features& f, uint16_t buffer_count, uint32_t buffer_size)
    : ring(runtime::uring::scripted(f)),
      buffers(runtime::buffer_ring::scripted(buffer_count, buffer_size)),
      rt{*ring, *buffers, counters, slots, later, 1'000'000} {}

script::~script() = default;

void script::collect() {
    auto& entries = ring->entries();
    while (!entries.empty()) {
        _pending.push_back(submission::of(entries.front()));
        entries.pop_front();
    }
}

const std::vector<submission>& script::pending() {
    collect();
    return _pending;
}

std::vector<submission> script::find(const runtime::ring_owner& owner, runtime::op kind) {
    collect();
    std::vector<submission> out;
    for (const auto& s : _pending) {
        if (s.id.slot == owner.slot() && s.op() == kind && s.user_data == owner.id(kind)) {
            out.push_back(s);
        }
    }
    return out;
}

std::optional<submission> script::one(const runtime::ring_owner& owner, runtime::op kind) {
    auto found = find(owner, kind);
    if (found.size() != 1) {
        ADD_FAILURE() << found.size() << " pending submissions of op " << static_cast<int>(kind)
                      << " where one was expected";
        return std::nullopt;
    }
    return found.front();
}

void script::remove(const submission& s) {
    auto it = std::ranges::find_if(_pending, [&](const submission& p) {
        return p.user_data == s.user_data && p.opcode == s.opcode && p.addr == s.addr &&
               p.fd == s.fd && p.op_flags == s.op_flags;
    });
    if (it != _pending.end()) {
        _pending.erase(it);
    }
}

void script::complete(const submission& s, int res, uint32_t flags) {
    collect();
    if ((flags & IORING_CQE_F_MORE) == 0) {
        remove(s);
    }
    runtime::ring_owner* target = slots.find(s.id);
    if (target == nullptr) {
        ADD_FAILURE() << "a completion for a freed slot " << s.id.slot << " (op "
                      << static_cast<int>(s.id.op) << ")";
        if ((flags & IORING_CQE_F_BUFFER) != 0) {
            buffers->taken();
            buffers->recycle(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT));
        }
        return;
    }
    target->on_completion(s.op(), res, flags);
    slots.release_if_finished(s.id.slot);
    later.run();
}

bool script::receive(const runtime::ring_owner& owner, runtime::op kind, std::string_view bytes) {
    auto found = find(owner, kind);
    if (found.empty()) {
        return false;
    }
    const submission s = found.front();
    auto id =
        buffers->fill(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    if (!id) {
        ADD_FAILURE() << "no free provided buffer for " << bytes.size() << " bytes";
        return false;
    }
    uint32_t flags = IORING_CQE_F_BUFFER | (static_cast<uint32_t>(*id) << IORING_CQE_BUFFER_SHIFT);
    if (s.multishot()) {
        flags |= IORING_CQE_F_MORE;
    }
    complete(s, static_cast<int>(bytes.size()), flags);
    return true;
}

bool script::receive_record(const runtime::ring_owner& owner, runtime::op kind, uint8_t type,
                            std::string_view bytes) {
    auto found = find(owner, kind);
    if (found.empty() || found.front().opcode != IORING_OP_RECVMSG) {
        ADD_FAILURE() << "no recvmsg pending for a record";
        return false;
    }
    auto* m = reinterpret_cast<msghdr*>(static_cast<uintptr_t>(found.front().addr));
    cmsghdr* c = m->msg_controllen >= CMSG_SPACE(sizeof(uint8_t)) ? CMSG_FIRSTHDR(m) : nullptr;
    if (c == nullptr) {
        ADD_FAILURE() << "the recvmsg has no room for the record type";
        return false;
    }
    c->cmsg_level = SOL_TLS;
    c->cmsg_type = TLS_GET_RECORD_TYPE;
    c->cmsg_len = CMSG_LEN(sizeof(uint8_t));
    *CMSG_DATA(c) = type;
    m->msg_controllen = CMSG_SPACE(sizeof(uint8_t));
    return receive(owner, kind, bytes);
}

bool script::receive_end(const runtime::ring_owner& owner, runtime::op kind, int res) {
    auto found = find(owner, kind);
    if (found.empty()) {
        return false;
    }
    complete(found.front(), res, 0);
    return true;
}

std::string script::send(const runtime::ring_owner& owner, runtime::op kind,
                         std::optional<std::size_t> n) {
    auto found = find(owner, kind);
    if (found.empty()) {
        return {};
    }
    const submission s = found.front();
    std::string all = s.bytes();
    std::size_t sent = std::min(n.value_or(all.size()), all.size());
    complete(s, static_cast<int>(sent));
    return all.substr(0, sent);
}

std::string script::send_all(const runtime::ring_owner& owner, runtime::op kind) {
    std::string out;
    for (int rounds = 0; rounds < 10000 && has(owner, kind); ++rounds) {
        out += send(owner, kind);
    }
    return out;
}

std::optional<submission> script::splice(const runtime::ring_owner& owner, runtime::op kind,
                                         int res) {
    auto s = one(owner, kind);
    if (!s) {
        return std::nullopt;
    }
    auto it = std::ranges::find_if(_pending, [&](const submission& p) {
        return p.user_data == s->user_data && p.opcode == s->opcode;
    });
    if (it != _pending.begin() && std::prev(it)->opcode == IORING_OP_POLL_ADD &&
        (std::prev(it)->flags & IOSQE_IO_LINK) != 0) {
        const submission poll = *std::prev(it);
        complete(poll, static_cast<int>(poll.op_flags));  // the mask it asked for
    }
    complete(*s, res);
    return s;
}

bool script::readable(const runtime::ring_owner& owner, runtime::op kind) {
    auto found = find(owner, kind);
    if (found.empty() || found.front().opcode != IORING_OP_POLL_ADD) {
        return false;
    }
    complete(found.front(), POLLIN, IORING_CQE_F_MORE);
    return true;
}

void script::connect(const runtime::ring_owner& owner, int res) {
    auto c = one(owner, runtime::op::upstream_connect);
    if (!c) {
        return;
    }
    auto timeout = find(owner, runtime::op::connect_timeout);
    if (res == -ETIME) {
        // The linked timeout fires: it completes first, the connect is
        // cancelled.
        for (const auto& t : timeout) {
            complete(t, -ETIME);
        }
        complete(*c, -ECANCELED);
        return;
    }
    complete(*c, res);
    for (const auto& t : timeout) {
        complete(t, -ECANCELED);
    }
}

void script::settle() {
    // Bounded, against a close path that never ends: a few ops per owner.
    for (int rounds = 0; rounds < 100000; ++rounds) {
        collect();
        auto it = std::ranges::find_if(_pending, [](const submission& s) {
            return s.opcode == IORING_OP_ASYNC_CANCEL || s.opcode == IORING_OP_CLOSE ||
                   s.opcode == IORING_OP_SHUTDOWN;
        });
        if (it == _pending.end()) {
            return;
        }
        const submission s = *it;
        if (s.opcode == IORING_OP_CLOSE) {
            ::close(s.fd);
            complete(s, 0);
            continue;
        }
        if (s.opcode == IORING_OP_SHUTDOWN) {
            complete(s, 0);
            continue;
        }
        // A cancel: by descriptor (every op on it) or by user_data.
        // What is linked behind a cancelled op (a poll's splice) is
        // cancelled with it.
        std::vector<submission> targets;
        auto targeted = [&](const submission& p) {
            return std::ranges::any_of(targets, [&](const submission& t) {
                return t.user_data == p.user_data && t.opcode == p.opcode && t.fd == p.fd &&
                       t.op_flags == p.op_flags;
            });
        };
        for (std::size_t i = 0; i < _pending.size(); ++i) {
            const submission& p = _pending[i];
            if (p.opcode == IORING_OP_ASYNC_CANCEL || p.opcode == IORING_OP_CLOSE || targeted(p)) {
                continue;
            }
            bool by_fd = (s.op_flags & IORING_ASYNC_CANCEL_FD) != 0;
            if (by_fd ? p.fd == s.fd : p.user_data == s.addr) {
                targets.push_back(p);
                if ((p.flags & IOSQE_IO_LINK) != 0 && p.opcode != IORING_OP_CONNECT &&
                    i + 1 < _pending.size()) {
                    targets.push_back(_pending[i + 1]);
                }
            }
        }
        remove(s);
        for (const auto& t : targets) {
            complete(t, -ECANCELED);
            if (t.op() == runtime::op::upstream_connect) {
                for (const auto& timeout : find(*slots.find(t.id), runtime::op::connect_timeout)) {
                    complete(timeout, -ECANCELED);
                }
            }
        }
        // The cancel's own completion, after what it cancelled.
        _pending.push_back(s);
        complete(s, targets.empty() ? -ENOENT : static_cast<int>(targets.size()));
    }
    ADD_FAILURE() << "settle() did not end";
}

void script::expect_all_returned(std::size_t descriptors) {
    EXPECT_EQ(slots.used(), 0u) << "an owner never finished";
    EXPECT_TRUE(pending().empty()) << pending().size() << " submissions never completed";
    for (const auto& p : pending()) {
        ADD_FAILURE() << "pending: opcode " << static_cast<int>(p.opcode) << " op "
                      << static_cast<int>(p.id.op) << " fd " << p.fd;
    }
    EXPECT_TRUE(later.empty()) << "deferred work never ran";
    EXPECT_EQ(buffers->available(), buffers->count()) << "a provided buffer was kept";
    EXPECT_EQ(open_descriptors(), descriptors) << "a descriptor was not closed";
}

std::size_t script::open_descriptors() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

}  // namespace tlsterm::test
