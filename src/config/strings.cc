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

std::string_view to_string(crl_policy p) {
    switch (p) {
        case crl_policy::required:
            return "required";
        case crl_policy::optional:
            return "optional";
        case crl_policy::leaf_only:
            return "leaf-only";
    }
    return "?";
}

std::string_view to_string(stale_crl_policy p) {
    switch (p) {
        case stale_crl_policy::reject:
            return "reject";
        case stale_crl_policy::grace:
            return "grace";
        case stale_crl_policy::warn:
            return "warn";
    }
    return "?";
}

}  // namespace tlsterm
