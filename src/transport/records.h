// The record layer behind a stream: what turns the bytes a socket carries
// into the plaintext its owner reads and writes. Plain (the bytes are the
// plaintext), userspace TLS (wolfSSL over memory, tls::session) or kernel
// TLS (transport/kernel_records.h: the socket itself does the records).
//
// Every record layer has an outgoing queue (bytes for the socket, which
// the stream sends) that write() fills from plaintext. How a stream ends is
// the record layer's too: end_output() queues the end of the sending
// direction and last_words() what goes out before the socket closes (a TLS
// close_notify after a clean end, the pending alert after a failure,
// nothing for plain bytes), so no caller decides which alert to send.
// Received bytes stay with the owner (a ClientHello reader, a TLS
// session's input queue, a plain pipe that passes them on uncopied, or the
// plaintext the kernel decrypted).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "common/byte_queue.h"
#include "tls/session.h"

namespace tlsterm::transport {

using tls::tls_status;

class record_layer {
  public:
    virtual ~record_layer() = default;

    // Bytes for the socket, in order.
    virtual byte_queue& outgoing() = 0;
    // Plaintext to the peer, into outgoing().
    virtual tls_status write(std::span<const uint8_t> plaintext) = 0;
    // Queues the end of this direction in outgoing() (close_notify; nothing
    // for plain bytes).
    virtual void end_output() = 0;
    // Queues what must go out before the socket closes: the end of the
    // stream after a `clean` close of an established one (once), and
    // whatever the record layer already queued (a failed handshake's alert).
    virtual void last_words(bool clean) = 0;

    // A record of another type than application data, sent after
    // outgoing() as one record (kernel TLS: an alert); the others put
    // theirs into outgoing().
    struct control_record {
        uint8_t type = 0;
        std::array<uint8_t, 2> body{};
    };
    virtual std::optional<control_record> take_control() { return std::nullopt; }
    // The kernel makes and reads the socket's records: receives say each
    // record's type (transport::stream receives with recvmsg).
    virtual bool kernel() const { return false; }
};

// Plain bytes: the plaintext is what the socket sends.
class plain_records final : public record_layer {
  public:
    plain_records() : _out(&_own) {}
    // Sends from `queue`, which its owner fills and which outlives this
    // (a pipe sends the client's plaintext queue as it is, uncopied).
    explicit plain_records(byte_queue& queue) : _out(&queue) {}
    plain_records(const plain_records&) = delete;
    plain_records& operator=(const plain_records&) = delete;

    byte_queue& outgoing() override { return *_out; }
    tls_status write(std::span<const uint8_t> plaintext) override {
        _out->append(plaintext);
        return tls_status::ok;
    }
    void end_output() override {}  // the FIN says it
    void last_words(bool) override {}

  private:
    byte_queue _own;
    byte_queue* _out;
};

// TLS records by wolfSSL over memory (the session's cipher queues).
class tls_records final : public record_layer {
  public:
    // The session whose records these are (once, before any use), and its
    // end (the records moved to the kernel): nothing points at it after.
    void bind(tls::session& s) { _s = &s; }
    void unbind() { _s = nullptr; }

    byte_queue& outgoing() override { return _s->cipher_out(); }
    tls_status write(std::span<const uint8_t> plaintext) override { return _s->write(plaintext); }
    void end_output() override {
        if (!_ended) {
            _ended = true;
            _s->send_close_notify();
        }
    }
    // A close_notify only after a clean end of an established session:
    // after an error, the peer would take a broken stream for a complete
    // one; during a handshake, only its alert goes out.
    void last_words(bool clean) override {
        if (clean && _established) {
            end_output();
        }
    }

    // The handshake finished: a clean close now ends with close_notify.
    void established() { _established = true; }

  private:
    tls::session* _s = nullptr;
    bool _established = false;
    bool _ended = false;
};

}  // namespace tlsterm::transport
