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
        case close_reason::count_:
            break;
    }
    return "?";
}

}  // namespace tlsterm
