#include "common/log.h"

#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

namespace tlsterm {

std::string_view to_string(log_level l) {
    switch (l) {
        case log_level::error:
            return "error";
        case log_level::warn:
            return "warn";
        case log_level::info:
            return "info";
        case log_level::debug:
            return "debug";
    }
    return "?";
}

}  // namespace tlsterm

namespace tlsterm::log {

namespace {
std::atomic<int> current{static_cast<int>(log_level::info)};
}

void set_level(log_level level) {
    current.store(static_cast<int>(level));
}

bool enabled(log_level level) {
    return static_cast<int>(level) <= current.load();
}

std::string utc(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

void write(log_level level, const char* fmt, ...) {
    char line[1024];
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    tm utc{};
    ::gmtime_r(&ts.tv_sec, &utc);
    int n = static_cast<int>(std::strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &utc));
    n += std::snprintf(line + n, sizeof(line) - static_cast<std::size_t>(n), ".%03ldZ %s ",
                       ts.tv_nsec / 1000000, std::string(to_string(level)).c_str());
    va_list args;
    va_start(args, fmt);
    int m = std::vsnprintf(line + n, sizeof(line) - static_cast<std::size_t>(n) - 1, fmt, args);
    va_end(args);
    std::size_t len =
        static_cast<std::size_t>(n) + std::min(static_cast<std::size_t>(m > 0 ? m : 0),
                                               sizeof(line) - static_cast<std::size_t>(n) - 2);
    line[len++] = '\n';
    // One write per record so lines from shard threads never interleave.
    ssize_t ignored = ::write(STDERR_FILENO, line, len);
    (void)ignored;
}

}  // namespace tlsterm::log
