#include <tlsterm/config.h>

namespace tlsterm {

std::string config_origin::to_string() const {
    std::string pos = file;
    if (line != 0) {
        pos += ":" + std::to_string(line) + ":" + std::to_string(column);
    }
    if (key_path.empty()) {
        return pos;
    }
    return key_path + " (" + pos + ")";
}

std::string config_error::to_string() const {
    return origin.to_string() + ": " + message;
}

std::string_view to_string(listener_mode m) {
    return m == listener_mode::http ? "http" : "tcp";
}

std::string_view to_string(ktls_mode m) {
    switch (m) {
        case ktls_mode::on:
            return "on";
        case ktls_mode::off:
            return "off";
        case ktls_mode::automatic:
            break;
    }
    return "auto";
}

std::string_view to_string(upstream_tls_mode m) {
    switch (m) {
        case upstream_tls_mode::tls:
            return "tls";
        case upstream_tls_mode::mtls:
            return "mtls";
        case upstream_tls_mode::none:
            break;
    }
    return "none";
}

}  // namespace tlsterm
