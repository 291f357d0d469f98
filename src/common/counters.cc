#include <tlsterm/counters.h>

namespace tlsterm {

std::string_view to_string(close_reason r) {
    switch (r) {
        case close_reason::done:
            return "done";
        case close_reason::client_reset:
            return "client_reset";
        case close_reason::upstream_reset:
            return "upstream_reset";
        case close_reason::not_tls:
            return "not_tls";
        case close_reason::bad_client_hello:
            return "bad_client_hello";
        case close_reason::handshake_failed:
            return "handshake_failed";
        case close_reason::handshake_timeout:
            return "handshake_timeout";
        case close_reason::idle_timeout:
            return "idle_timeout";
        case close_reason::tls_error:
            return "tls_error";
        case close_reason::upstream_down:
            return "upstream_down";
        case close_reason::too_many_connections:
            return "too_many_connections";
        case close_reason::drain_deadline:
            return "drain_deadline";
        case close_reason::out_of_memory:
            return "out_of_memory";
        case close_reason::out_of_descriptors:
            return "out_of_descriptors";
        case close_reason::bad_request:
            return "bad_request";
        case close_reason::upstream_error:
            return "upstream_error";
        case close_reason::unauthenticated:
            return "unauthenticated";
        case close_reason::header_timeout:
            return "header_timeout";
        case close_reason::body_timeout:
            return "body_timeout";
        case close_reason::address_limit:
            return "address_limit";
        case close_reason::handshake_rate:
            return "handshake_rate";
        case close_reason::server_name_rate:
            return "server_name_rate";
        case close_reason::ktls_key_update:
            return "ktls_key_update";
        case close_reason::count_:
            break;
    }
    return "?";
}

std::string_view to_string(cert_reject r) {
    switch (r) {
        case cert_reject::no_certificate:
            return "no_certificate";
        case cert_reject::unknown_ca:
            return "unknown_ca";
        case cert_reject::expired:
            return "expired";
        case cert_reject::not_yet_valid:
            return "not_yet_valid";
        case cert_reject::revoked:
            return "revoked";
        case cert_reject::bad_signature:
            return "bad_signature";
        case cert_reject::stale_crl:
            return "stale_crl";
        case cert_reject::missing_crl:
            return "missing_crl";
        case cert_reject::chain_too_long:
            return "chain_too_long";
        case cert_reject::not_allowed:
            return "not_allowed";
        case cert_reject::not_x509v3:
            return "not_x509v3";
        case cert_reject::wrong_usage:
            return "wrong_usage";
        case cert_reject::invalid:
            return "invalid";
        case cert_reject::count_:
            break;
    }
    return "?";
}

std::string_view to_string(ticket_refusal r) {
    switch (r) {
        case ticket_refusal::unknown_key:
            return "unknown_key";
        case ticket_refusal::invalid:
            return "invalid";
        case ticket_refusal::expired:
            return "expired";
        case ticket_refusal::policy:
            return "policy";
        case ticket_refusal::identity_unknown:
            return "identity_unknown";
        case ticket_refusal::revoked:
            return "revoked";
        case ticket_refusal::certificate:
            return "certificate";
        case ticket_refusal::count_:
            break;
    }
    return "?";
}

}  // namespace tlsterm
