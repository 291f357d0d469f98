// One-line log records to stderr, each prefixed with UTC time and level.
// Errors are logged where they are detected, once.
#pragma once

#include <cstdarg>

#include <tlsterm/config.h>

namespace tlsterm::log {

void set_level(log_level level);
bool enabled(log_level level);

[[gnu::format(printf, 2, 3)]] void write(log_level level, const char* fmt, ...);

#define TLSTERM_LOG(level, ...)                        \
    do {                                               \
        if (::tlsterm::log::enabled(level)) {          \
            ::tlsterm::log::write(level, __VA_ARGS__); \
        }                                              \
    } while (0)

}  // namespace tlsterm::log
