// One-line log records to stderr, each prefixed with UTC time and level.
// Errors are logged where they are detected, once.
//
// Nothing blocks a shard on its log: a thread that calls buffer_lines()
// (every shard thread) writes its records into a buffer of its own, which
// one writer thread drains to stderr; a full buffer drops the record and
// counts it, never waits. Per call site (format string) such a thread logs
// at most `per_second_limit` records of levels above debug each second; the
// rest are counted and reported in one line ("N similar lines suppressed").
// Drops are reported the same way. Other threads (the controller, startup,
// the CRL manager) write each record directly, as one write(2).
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>

#include <tlsterm/log_level.h>

namespace tlsterm::log {

void set_level(log_level level);
bool enabled(log_level level);

[[gnu::format(printf, 2, 3)]] void write(log_level level, const char* fmt, ...);

// From now on the calling thread's records go to a buffer of its own
// (`name` says whose in drop and suppression reports), drained by the
// writer thread (started on first use). The buffer is drained and released
// when the thread ends.
void buffer_lines(const std::string& name, std::size_t capacity = 256 * 1024);
// Starts the writer thread now, from the calling thread (whose name and CPU
// set it starts with: the main thread's, before shards are pinned).
void start_writer();
// A buffering thread that put records since its last call wakes the writer
// (the shard loop calls it once per batch of completions): records reach
// stderr at once instead of within the writer's 10 ms round.
void wake_writer();

// Records a buffering thread logs per call site and second, above debug.
inline constexpr uint32_t per_second_limit = 200;

struct totals {
    uint64_t dropped = 0;     // buffer full
    uint64_t suppressed = 0;  // over per_second_limit
};
totals counted();

// A time as log lines show it: "2026-11-23T10:59:02Z".
std::string utc(std::time_t t);

#define TLSTERM_LOG(level, ...)                        \
    do {                                               \
        if (::tlsterm::log::enabled(level)) {          \
            ::tlsterm::log::write(level, __VA_ARGS__); \
        }                                              \
    } while (0)

}  // namespace tlsterm::log
