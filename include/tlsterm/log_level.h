// How much the log says: the log's own type, named by the configuration
// (runtime.log_level) and used by the log module below every other.
#pragma once

#include <cstdint>
#include <string_view>

namespace tlsterm {

enum class log_level : uint8_t { error, warn, info, debug };
std::string_view to_string(log_level);

}  // namespace tlsterm
