#include "transport/kernel_records.h"

#include <cerrno>

namespace tlsterm::transport {

namespace {

constexpr uint8_t hello_request = 0;
constexpr uint8_t client_hello = 1;
constexpr uint8_t new_session_ticket = 4;
constexpr uint8_t key_update = 24;
constexpr uint8_t user_canceled = 90;

control_verdict refuse(tls::alert a) {
    return {control_verdict::what::refuse, a, 0};
}

}  // namespace

control_verdict read_control_record(uint8_t type, std::span<const uint8_t> body, bool server,
                                    bool tls13) {
    using what = control_verdict::what;
    if (type == record_alert) {
        if (body.size() != 2) {
            return refuse(tls::alert::decode_error);
        }
        if (body[1] == static_cast<uint8_t>(tls::alert::close_notify)) {
            return {what::end, {}, 0};
        }
        if (body[0] == 1 && body[1] == user_canceled) {
            return {what::ignore, {}, 0};  // a warning; its close_notify follows
        }
        return {what::peer_alert, {}, body[1]};
    }
    if (type != record_handshake) {
        return refuse(tls::alert::unexpected_message);  // ChangeCipherSpec, unknown types
    }
    // One or more whole handshake messages (a message split across records
    // is not taken: none that may come after a handshake needs to be).
    control_verdict v{what::ignore, {}, 0};
    while (!body.empty()) {
        if (body.size() < 4) {
            return refuse(tls::alert::decode_error);
        }
        std::size_t length = static_cast<std::size_t>(body[1]) << 16 |
                             static_cast<std::size_t>(body[2]) << 8 | body[3];
        if (body.size() - 4 < length) {
            return refuse(tls::alert::decode_error);
        }
        switch (body[0]) {
            case key_update:
                if (!tls13) {
                    return refuse(tls::alert::unexpected_message);  // no TLS 1.2 message
                }
                if (length != 1 || body[4] > 1) {
                    return refuse(tls::alert::decode_error);
                }
                return {what::key_update, {}, 0};  // the record's last message (RFC 8446 5.1)
            case client_hello:
                if (!server || tls13) {
                    return refuse(tls::alert::unexpected_message);
                }
                // Renegotiation: refused with a warning; the client may go
                // on (RFC 5246 7.4.1.2, RFC 5746 4.4). Not parsed.
                v.kind = what::no_renegotiation;
                break;
            case new_session_ticket:
            case hello_request:
                if (server) {
                    return refuse(tls::alert::unexpected_message);
                }
                break;  // a client takes no tickets and renegotiates nothing here
            default:
                return refuse(tls::alert::unexpected_message);
        }
        body = body.subspan(4 + length);
    }
    return v;
}

std::optional<tls::alert> alert_for_receive_error(int error) {
    switch (error) {
        case -EBADMSG:
            return tls::alert::bad_record_mac;
        case -EMSGSIZE:
            return tls::alert::record_overflow;
        case -EINVAL:
            return tls::alert::decode_error;
        default:
            return std::nullopt;
    }
}

}  // namespace tlsterm::transport
