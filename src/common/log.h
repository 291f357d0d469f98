// One-line log records to stderr, each prefixed with UTC time and level.
// Errors are logged where they are detected, once.
#pragma once

#include <cstdarg>
#include <ctime>
#include <string>

#include <tlsterm/config.h>

namespace tlsterm::log {

void set_level(log_level level);
bool enabled(log_level level);

[[gnu::format(printf, 2, 3)]] void write(log_level level, const char* fmt, ...);

// A time as log lines show it: "2026-11-23T10:59:02Z".
std::string utc(std::time_t t);

#define TLSTERM_LOG(level, ...)                        \
    do {                                               \
        if (::tlsterm::log::enabled(level)) {          \
            ::tlsterm::log::write(level, __VA_ARGS__); \
        }                                              \
    } while (0)

}  // namespace tlsterm::log
