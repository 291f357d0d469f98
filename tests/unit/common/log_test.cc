// The log of a buffering (shard) thread: records reach stderr in order
// through the writer thread, a call site over its rate is suppressed and
// reported, a full buffer drops records and reports them. stderr is a file
// for the length of each test.
#include "common/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace tlsterm::log {
namespace {

// stderr goes to a temporary file until destroyed; text() reads it.
class captured_stderr {
  public:
    captured_stderr() {
        char path[] = "/tmp/tlsterm-log-test.XXXXXX";
        _fd = ::mkstemp(path);
        _path = path;
        std::fflush(stderr);
        _saved = ::dup(STDERR_FILENO);
        ::dup2(_fd, STDERR_FILENO);
    }
    ~captured_stderr() {
        ::dup2(_saved, STDERR_FILENO);
        ::close(_saved);
        ::close(_fd);
        ::unlink(_path.c_str());
    }
    std::string text() const {
        std::ifstream in(_path);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

  private:
    int _fd = -1;
    int _saved = -1;
    std::string _path;
};

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

TEST(BufferedLog, RecordsReachStderrInOrderWhenTheThreadEnds) {
    captured_stderr err;
    std::thread shard([] {
        buffer_lines("test shard");
        for (int i = 0; i < 50; ++i) {
            TLSTERM_LOG(log_level::warn, "record %d of the test shard", i);
        }
    });
    shard.join();  // its buffer is drained as it ends
    std::string text = err.text();
    EXPECT_EQ(count(text, "of the test shard"), 50u) << text;
    EXPECT_LT(text.find("record 0 of"), text.find("record 49 of")) << text;
    EXPECT_NE(text.find("Z warn record 7 of the test shard\n"), std::string::npos) << text;
}

TEST(BufferedLog, OneCallSiteOverItsRateIsSuppressedAndCounted) {
    captured_stderr err;
    uint64_t before = counted().suppressed;
    std::thread shard([] {
        buffer_lines("flooding shard");
        for (int i = 0; i < 1000; ++i) {
            TLSTERM_LOG(log_level::info, "handshake %d refused", i);
        }
    });
    shard.join();
    std::string text = err.text();
    // At most two seconds' worth get through, whatever second the loop began in.
    std::size_t written = count(text, " refused\n");
    EXPECT_LE(written, 2u * per_second_limit) << text.substr(0, 300);
    EXPECT_GE(written, std::size_t{per_second_limit});
    EXPECT_EQ(counted().suppressed - before, 1000u - written);
}

TEST(BufferedLog, AFullBufferDropsRecordsAndSaysHowMany) {
    captured_stderr err;
    uint64_t before = counted().dropped;
    std::thread shard([] {
        buffer_lines("small shard", 4096);
        // Debug records are never rate-limited: 10,000 of ~70 bytes into
        // 4 KiB, which the writer drains every 10 ms.
        set_level(log_level::debug);
        for (int i = 0; i < 10000; ++i) {
            TLSTERM_LOG(log_level::debug, "a debug record that fills the buffer, number %05d", i);
        }
        set_level(log_level::info);
    });
    shard.join();
    std::string text = err.text();
    uint64_t dropped = counted().dropped - before;
    EXPECT_GT(dropped, 0u);
    EXPECT_EQ(count(text, "fills the buffer") + dropped, 10000u);
    EXPECT_NE(text.find("log: small shard: "), std::string::npos) << text.substr(0, 300);
    EXPECT_NE(text.find("records dropped (its log buffer was full)"), std::string::npos);
}

TEST(BufferedLog, OtherThreadsWriteAtOnce) {
    captured_stderr err;
    TLSTERM_LOG(log_level::error, "a record of the main thread");
    EXPECT_NE(err.text().find("Z error a record of the main thread\n"), std::string::npos);
}

}  // namespace
}  // namespace tlsterm::log
