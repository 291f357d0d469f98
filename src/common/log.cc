#include "common/log.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

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
std::atomic<uint64_t> total_dropped{0};
std::atomic<uint64_t> total_suppressed{0};

void write_all(const char* data, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::write(STDERR_FILENO, data, n);
        if (w <= 0) {
            return;  // stderr is gone: nothing to tell anyone
        }
        data += w;
        n -= static_cast<std::size_t>(w);
    }
}

// One thread's records: a byte ring with one producer (the thread) and one
// consumer (whoever drains, under the sink's mutex).
class line_buffer {
  public:
    line_buffer(std::string name, std::size_t capacity)
        : _name(std::move(name)), _capacity(capacity), _bytes(capacity) {}

    const std::string& name() const { return _name; }

    // The producer: the whole record or nothing.
    bool put(const char* data, std::size_t n) {
        uint64_t head = _head.load(std::memory_order_relaxed);
        uint64_t tail = _tail.load(std::memory_order_acquire);
        if (_capacity - (head - tail) < n) {
            _dropped.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        std::size_t at = head % _capacity;
        std::size_t first = std::min(n, _capacity - at);
        std::memcpy(_bytes.data() + at, data, first);
        std::memcpy(_bytes.data(), data + first, n - first);
        _head.store(head + n, std::memory_order_release);
        return true;
    }

    // The consumer: everything put so far, to stderr; the drops since the
    // last drain, reported.
    void drain() {
        uint64_t head = _head.load(std::memory_order_acquire);
        uint64_t tail = _tail.load(std::memory_order_relaxed);
        while (tail != head) {
            std::size_t at = tail % _capacity;
            std::size_t n = std::min<uint64_t>(head - tail, _capacity - at);
            write_all(_bytes.data() + at, n);
            tail += n;
        }
        _tail.store(tail, std::memory_order_release);
        if (uint64_t d = _dropped.exchange(0, std::memory_order_relaxed); d != 0) {
            total_dropped.fetch_add(d, std::memory_order_relaxed);
            char line[160];
            int n = std::snprintf(line, sizeof(line),
                                  "log: %s: %llu records dropped (its log buffer was full)\n",
                                  _name.c_str(), static_cast<unsigned long long>(d));
            write_all(line, static_cast<std::size_t>(std::max(n, 0)));
        }
    }

  private:
    std::string _name;
    std::size_t _capacity;
    std::vector<char> _bytes;
    std::atomic<uint64_t> _head{0};  // bytes ever put
    std::atomic<uint64_t> _tail{0};  // bytes ever drained
    std::atomic<uint64_t> _dropped{0};
};

// The buffers of every buffering thread and the one writer draining them.
class sink {
  public:
    ~sink() { stop(); }

    std::shared_ptr<line_buffer> add(const std::string& name, std::size_t capacity) {
        auto b = std::make_shared<line_buffer>(name, capacity);
        std::lock_guard lock(_mutex);
        _buffers.push_back(b);
        start_locked();
        return b;
    }

    void start() {
        std::lock_guard lock(_mutex);
        start_locked();
    }

    void wake() { _wake.notify_one(); }

    // The thread of `b` ends: what it left is written, and it goes.
    void remove(const std::shared_ptr<line_buffer>& b) {
        std::lock_guard lock(_mutex);
        b->drain();
        std::erase(_buffers, b);
    }

    void drain_all() {
        std::lock_guard lock(_mutex);
        for (auto& b : _buffers) {
            b->drain();
        }
    }

    void stop() {
        {
            std::lock_guard lock(_mutex);
            _stopping = true;
        }
        _wake.notify_all();
        if (_writer.joinable()) {
            _writer.join();
        }
        drain_all();
    }

  private:
    void start_locked() {
        if (_writer.joinable() || _stopping) {
            return;
        }
        // The writer takes no signals: they stay for the thread that waits
        // for them (whatever the caller's mask is now).
        sigset_t all;
        sigset_t old;
        ::sigfillset(&all);
        ::pthread_sigmask(SIG_SETMASK, &all, &old);
        _writer = std::thread([this] {
            ::pthread_setname_np(::pthread_self(), "tlsterm-log");
            run();
        });
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }

    // Every 10 ms: records reach stderr within about that, and the shards
    // never wake anyone.
    void run() {
        std::unique_lock lock(_mutex);
        while (!_stopping) {
            _wake.wait_for(lock, std::chrono::milliseconds(10));
            for (auto& b : _buffers) {
                b->drain();
            }
        }
    }

    std::mutex _mutex;
    std::condition_variable _wake;
    std::vector<std::shared_ptr<line_buffer>> _buffers;
    std::thread _writer;
    bool _stopping = false;
};

sink& the_sink() {
    static sink s;
    return s;
}

// A buffering thread's state: its buffer and, per call site, the second
// it counts in and how many records it let through or suppressed there.
struct site_count {
    const char* fmt = nullptr;
    int64_t second = 0;
    uint32_t written = 0;
    uint64_t suppressed = 0;
};

struct thread_state {
    std::shared_ptr<line_buffer> buffer;
    bool unannounced = false;       // records put since the last wake_writer()
    std::vector<site_count> sites;  // a few dozen call sites at most
    ~thread_state() {
        if (buffer) {
            the_sink().remove(buffer);
        }
    }
};

thread_local thread_state local;

// Formats "2026-11-23T10:59:02.123Z level " into `line`; returns its length.
int prefix(char* line, std::size_t size, const timespec& ts, log_level level) {
    tm utc{};
    ::gmtime_r(&ts.tv_sec, &utc);
    int n = static_cast<int>(std::strftime(line, size, "%Y-%m-%dT%H:%M:%S", &utc));
    n += std::snprintf(line + n, size - static_cast<std::size_t>(n), ".%03ldZ %s ",
                       ts.tv_nsec / 1000000, std::string(to_string(level)).c_str());
    return n;
}

void emit(const char* line, std::size_t len) {
    if (local.buffer) {
        local.unannounced = local.buffer->put(line, len) || local.unannounced;
    } else {
        write_all(line, len);  // one write per record: lines never interleave
    }
}

// Whether a buffering thread may log one more record from `fmt` now; a
// new second first reports what the last one suppressed.
bool admit(const char* fmt, log_level level, const timespec& ts) {
    if (!local.buffer || level == log_level::debug) {
        return true;
    }
    site_count* site = nullptr;
    for (auto& s : local.sites) {
        if (s.fmt == fmt) {
            site = &s;
            break;
        }
    }
    if (site == nullptr) {
        site = &local.sites.emplace_back(site_count{fmt, ts.tv_sec, 0, 0});
    }
    if (site->second != ts.tv_sec) {
        if (site->suppressed != 0) {
            char line[512];
            int n = prefix(line, sizeof(line), ts, level);
            n += std::snprintf(line + n, sizeof(line) - static_cast<std::size_t>(n) - 1,
                               "%s: %llu similar lines suppressed (over %u a second) like: %.200s",
                               local.buffer->name().c_str(),
                               static_cast<unsigned long long>(site->suppressed), per_second_limit,
                               fmt);
            std::size_t len = std::min(static_cast<std::size_t>(n), sizeof(line) - 2);
            line[len++] = '\n';
            emit(line, len);
        }
        site->second = ts.tv_sec;
        site->written = 0;
        site->suppressed = 0;
    }
    if (site->written >= per_second_limit) {
        ++site->suppressed;
        total_suppressed.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    ++site->written;
    return true;
}

}  // namespace

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

void buffer_lines(const std::string& name, std::size_t capacity) {
    if (!local.buffer) {
        local.buffer = the_sink().add(name, capacity);
    }
}

void start_writer() {
    the_sink().start();
}

void wake_writer() {
    if (local.unannounced) {
        local.unannounced = false;
        the_sink().wake();
    }
}

totals counted() {
    return totals{total_dropped.load(std::memory_order_relaxed),
                  total_suppressed.load(std::memory_order_relaxed)};
}

void write(log_level level, const char* fmt, ...) {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    if (!admit(fmt, level, ts)) {
        return;
    }
    char line[1024];
    int n = prefix(line, sizeof(line), ts, level);
    va_list args;
    va_start(args, fmt);
    int m = std::vsnprintf(line + n, sizeof(line) - static_cast<std::size_t>(n) - 1, fmt, args);
    va_end(args);
    std::size_t len =
        static_cast<std::size_t>(n) + std::min(static_cast<std::size_t>(m > 0 ? m : 0),
                                               sizeof(line) - static_cast<std::size_t>(n) - 2);
    line[len++] = '\n';
    emit(line, len);
}

}  // namespace tlsterm::log
