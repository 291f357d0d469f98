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

}  // namespace tlsterm
