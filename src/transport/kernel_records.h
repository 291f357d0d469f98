// The third record layer: the kernel makes and reads the socket's records
// (kTLS, transport/kernel_tls.h installs the keys). What the stream sends
// is plaintext; a record of another type (an alert) goes out as one
// sendmsg with its type in a control message; what it receives is
// plaintext, a record of another type arriving alone with its type
// (recvmsg with a control message), which read_control_record() judges.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "tls/client_hello.h"
#include "transport/records.h"

namespace tlsterm::transport {

inline constexpr uint8_t record_change_cipher_spec = 20;
inline constexpr uint8_t record_alert = 21;
inline constexpr uint8_t record_handshake = 22;
inline constexpr uint8_t record_application_data = 23;

class kernel_records final : public record_layer {
  public:
    explicit kernel_records(bool tls13) : _tls13(tls13) {}
    bool tls13() const { return _tls13; }  // else TLS 1.2

    byte_queue& outgoing() override { return _out; }
    tls_status write(std::span<const uint8_t> plaintext) override {
        _out.append(plaintext);
        return tls_status::ok;
    }
    // close_notify, once, after everything queued.
    void end_output() override {
        if (!_ended) {
            _ended = true;
            _alert = alert_body(tls::alert::close_notify, false);
        }
    }
    // close_notify after a clean end; after a failure, the fatal alert
    // fail() queued, if any.
    void last_words(bool clean) override {
        if (clean) {
            end_output();
        }
    }
    std::optional<control_record> take_control() override {
        auto a = _alert;
        _alert.reset();
        return a ? std::optional(control_record{record_alert, *a}) : std::nullopt;
    }
    bool kernel() const override { return true; }

    // A fatal alert for the peer (what it sent was refused); it replaces
    // any close_notify not yet sent.
    void fail(tls::alert a) {
        _ended = true;
        _alert = alert_body(a, true);
    }
    // A warning for the peer (no_renegotiation), after what is queued; the
    // stream goes on. One waits at a time: another before it went out, or
    // one after the end, is dropped.
    void warn(tls::alert a) {
        if (!_ended && !_alert) {
            _alert = alert_body(a, false);
        }
    }

  private:
    static std::array<uint8_t, 2> alert_body(tls::alert a, bool fatal) {
        return {static_cast<uint8_t>(fatal ? 2 : 1), static_cast<uint8_t>(a)};
    }

    byte_queue _out;
    std::optional<std::array<uint8_t, 2>> _alert;
    bool _ended = false;
    bool _tls13;
};

// What a received record other than application data means.
struct control_verdict {
    enum class what : uint8_t {
        ignore,            // dropped (a ticket or renegotiation request to a client)
        no_renegotiation,  // a ClientHello on a TLS 1.2 server: a warning, and go on
        end,               // close_notify: the peer's stream ended after what came before
        peer_alert,        // the peer sent an alert: the connection ends
        key_update,        // TLS 1.3 KeyUpdate: the kernel cannot follow (before Linux 6.14)
        refuse,            // answer with `answer` and end the connection
    };
    what kind = what::ignore;
    tls::alert answer = tls::alert::unexpected_message;  // refuse
    uint8_t description = 0;                             // peer_alert: the peer's
};

// Judges a record of `type` with `body` (whole, as the kernel gives it) on
// the server (`server`) or client side of a TLS 1.3 (`tls13`) or TLS 1.2
// connection.
control_verdict read_control_record(uint8_t type, std::span<const uint8_t> body, bool server,
                                    bool tls13);

// The alert that answers a receive the kernel failed with `error` (-errno)
// because of a record: one that did not authenticate, one too long, a
// malformed header. nullopt for the socket's own errors (a reset).
std::optional<tls::alert> alert_for_receive_error(int error);

}  // namespace tlsterm::transport
