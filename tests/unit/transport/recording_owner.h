// The ring owner a stream under test belongs to: it hands the stream its
// completions as a connection would (re-arming after each receive, sending
// what was queued after each drained send, closing the socket once nothing
// is in flight) and records what it was told.
#pragma once

#include <cerrno>
#include <string>

#include "runtime/services.h"
#include "runtime/slot_table.h"
#include "transport/stream.h"

namespace tlsterm::test {

class recording_owner final : public runtime::ring_owner {
  public:
    using op = runtime::op;

    explicit recording_owner(runtime::services& rt, uint32_t slot = 1, uint32_t generation = 1,
                             op recv = op::upstream_recv, op send = op::upstream_send)
        : ring_owner(false, rt.ring, slot, generation),
          s(*this, rt, recv, send, recv == op::client_recv ? op::client_ready : op::upstream_ready),
          _recv(recv),
          _send(send) {}

    void on_completion(op kind, int res, uint32_t flags) override {
        completed(flags);
        if (kind == _recv) {
            auto r = s.on_recv(res, flags);
            using what = transport::stream::received::what;
            if (r.kind == what::bytes) {
                auto b = r.buffer.bytes();
                received.append(reinterpret_cast<const char*>(b.data()), b.size());
                record_type = r.record_type;
            } else if (r.kind == what::end) {
                ended = true;
            } else if (r.kind == what::error) {
                error = r.error;
            }
            s.arm();
        } else if (kind == op::client_ready || kind == op::upstream_ready) {
            s.on_ready(res, flags);
            s.arm();
        } else if (kind == _send) {
            auto r = s.on_send(res);
            if (r.done) {
                ++drained;
                s.flush();  // what was queued meanwhile, or the FIN
            }
            if (r.error != 0) {
                error = r.error;
            }
        }
        if (kind == op::socket_end && res == -EBADF) {
            ++bad_descriptor;  // an op that ran after the socket was closed
        }
        if (s.closing() && inflight() == 0) {
            released += s.release() ? 1 : 0;  // the close, once nothing else is in flight
        }
    }
    bool finished() const override { return s.closing() && inflight() == 0 && !s.attached(); }

    transport::stream s;
    std::string received;
    uint8_t record_type = 0;  // of the last bytes received
    bool ended = false;
    int error = 0;
    int drained = 0;
    int released = 0;
    int bad_descriptor = 0;

  private:
    op _recv;
    op _send;
};

}  // namespace tlsterm::test
