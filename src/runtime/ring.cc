#include "runtime/ring.h"

#include <cerrno>
#include <cstring>

namespace tlsterm::runtime {

std::expected<std::unique_ptr<uring>, std::string> uring::create(unsigned entries, bool minimal) {
    std::unique_ptr<uring> r(new uring());

    // Setup flags, strongest first; each failure drops one and says why.
    struct attempt {
        unsigned flags;
        const char* name;
    };
    const attempt attempts[] = {
        // One thread submits and reaps, and completion work runs only when
        // that thread waits: no locking, no interrupts, batched task work.
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "SINGLE_ISSUER + DEFER_TASKRUN"},
        // Kernels before 6.1: no deferred task work, but no IPIs either.
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, "SINGLE_ISSUER + COOP_TASKRUN"},
        {IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
        {0, "no setup flags"},
    };
    int last_error = 0;
    for (const auto& a : attempts) {
        if (minimal && a.flags != 0) {
            continue;
        }
        io_uring_params p{};
        p.flags = a.flags | IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;
        int rc = io_uring_queue_init_params(entries, &r->_ring, &p);
        if (rc == 0) {
            r->_features.single_issuer = (a.flags & IORING_SETUP_SINGLE_ISSUER) != 0;
            r->_features.defer_taskrun = (a.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
            r->_features.coop_taskrun = (a.flags & IORING_SETUP_COOP_TASKRUN) != 0;
            r->_notes.push_back(std::string("io_uring setup: ") + a.name);
            last_error = 0;
            break;
        }
        last_error = rc;
        r->_notes.push_back(std::string("io_uring setup without ") + a.name + ": " +
                            std::strerror(-rc));
    }
    if (last_error != 0) {
        return std::unexpected("io_uring_queue_init failed: " +
                               std::string(std::strerror(-last_error)));
    }

    io_uring_probe* probe = io_uring_get_probe_ring(&r->_ring);
    if (probe == nullptr) {
        io_uring_queue_exit(&r->_ring);
        return std::unexpected("io_uring probe failed (kernel older than 5.6?)");
    }
    // Multishot flags have no opcode of their own; each arrived in the same
    // release as an opcode that can be probed.
    r->_features.multishot_accept = io_uring_opcode_supported(probe, IORING_OP_SOCKET) != 0;
    r->_features.send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) != 0;
    r->_features.multishot_recv = r->_features.send_zc;
    io_uring_free_probe(probe);
    if (minimal) {
        r->_features.multishot_accept = false;
        r->_features.multishot_recv = false;
        r->_features.send_zc = false;
        r->_notes.emplace_back("minimal features requested");
    }
    if (!r->_features.multishot_accept) {
        r->_notes.emplace_back(
            "no multishot accept (kernel < 5.19): one accept SQE per connection");
    }
    if (!r->_features.multishot_recv) {
        r->_notes.emplace_back("no multishot recv (kernel < 6.0): one recv SQE per read");
    }
    if (!r->_features.send_zc) {
        r->_notes.emplace_back("no SEND_ZC (kernel < 6.0): copying sends only");
    }
    return r;
}

std::unique_ptr<uring> uring::scripted(const features& f) {
    std::unique_ptr<uring> r(new uring());
    r->_scripted = true;
    r->_features = f;
    r->_notes.emplace_back("scripted ring: nothing is submitted");
    return r;
}

uring::~uring() {
    if (!_scripted) {
        io_uring_queue_exit(&_ring);
    }
}

io_uring_sqe* uring::sqe() {
    if (_scripted) {
        return &_entries.emplace_back();  // zeroed, like a fresh kernel entry
    }
    io_uring_sqe* s = io_uring_get_sqe(&_ring);
    while (s == nullptr) {
        io_uring_submit(&_ring);
        s = io_uring_get_sqe(&_ring);
    }
    return s;
}

void uring::reserve(unsigned n) {
    if (_scripted) {
        return;
    }
    if (io_uring_sq_space_left(&_ring) < n) {
        io_uring_submit(&_ring);
    }
}

int uring::submit_and_wait(unsigned wait_nr) {
    if (_scripted) {
        return 0;
    }
    for (;;) {
        int rc = io_uring_submit_and_wait(&_ring, wait_nr);
        if (rc >= 0) {
            return rc;
        }
        if (rc != -EINTR) {
            return rc;
        }
    }
}

}  // namespace tlsterm::runtime
