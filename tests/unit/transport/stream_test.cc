// A stream on a real ring and a real TCP connection over loopback: what it
// receives, pauses and resumes, what it sends and in which order the end
// comes (FIN, last words, reset), and that its owner is finished once the
// close has completed.
#include "transport/stream.h"

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>

#include "unit/transport/loopback.h"
#include "unit/transport/recording_owner.h"

namespace tlsterm::transport {
namespace {

using runtime::op;
using test::tcp_pair;

using owner = tlsterm::test::recording_owner;

class StreamTest : public test::ring_test {
  protected:
    void SetUp() override {
        ring_test::SetUp();
        o = std::make_unique<owner>(*rt);
        o->s.attach(pair.ours);
        o->s.set_records(&records);
    }

    // Runs completions (for `target`, else the fixture's owner) until
    // `done` or `ms` pass.
    bool pump(const std::function<bool()>& done, int ms = 2000, owner* target = nullptr) {
        return run(target != nullptr ? *target : *o, done, ms);
    }

    void peer_sends(const std::string& text) const {
        ASSERT_EQ(::send(pair.peer, text.data(), text.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(text.size()));
    }

    tcp_pair pair;
    plain_records records;
    std::unique_ptr<owner> o;
};

TEST_F(StreamTest, ReceivesUntilTheEnd) {
    o->s.arm();
    peer_sends("hello ");
    peer_sends("stream");
    ASSERT_TRUE(pump([&] { return o->received == "hello stream"; })) << o->received;
    ::shutdown(pair.peer, SHUT_WR);
    ASSERT_TRUE(pump([&] { return o->ended; }));
    EXPECT_TRUE(o->s.input_ended());
}

TEST_F(StreamTest, PausedReceivesNothingUntilResumed) {
    o->s.arm();
    peer_sends("one");
    ASSERT_TRUE(pump([&] { return o->received == "one"; }));
    o->s.pause();
    EXPECT_TRUE(o->s.paused());
    peer_sends("two");
    EXPECT_FALSE(pump([&] { return o->received != "one"; }, 300)) << o->received;
    o->s.resume();
    ASSERT_TRUE(pump([&] { return o->received == "onetwo"; })) << o->received;
}

TEST_F(StreamTest, SendsQueuedBytesInOrderThenTheFin) {
    std::string big(200 * 1024, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>('a' + i % 26);
    }
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(big.data()), big.size());
    records.write(bytes.first(1000));
    o->s.flush();
    records.write(bytes.subspan(1000));  // queued behind the send in flight
    EXPECT_TRUE(o->s.sending());
    EXPECT_EQ(o->s.backlog(), big.size());
    o->s.end_write();  // after everything queued
    EXPECT_FALSE(o->s.write_shut());
    std::string got;
    bool eof = false;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!eof && std::chrono::steady_clock::now() < end) {
        pump([&] { return false; }, 20);
        got += pair.peer_reads(20, nullptr, &eof);
    }
    EXPECT_TRUE(eof);
    EXPECT_EQ(got.size(), big.size());
    EXPECT_TRUE(got == big);
    EXPECT_TRUE(o->s.write_shut());
    EXPECT_EQ(o->s.backlog(), 0u);
}

// A shutdown runs in an io-wq worker and finds its socket by number when it
// runs: a close right behind it would let it miss (EBADF) or hit whatever
// socket took the number meanwhile. The close waits for it.
TEST_F(StreamTest, TheCloseComesAfterEveryOpOnTheSocket) {
    int bad = 0;
    for (int i = 0; i < 20; ++i) {
        tcp_pair next;
        owner other(*rt);
        other.s.attach(next.ours);
        other.s.set_records(&records);
        other.s.arm();
        other.s.end_write();  // the shutdown, at once: nothing is queued
        other.s.close(true);
        ASSERT_TRUE(pump([&] { return other.finished(); }, 2000, &other));
        bad += other.bad_descriptor;
        bool eof = false;
        next.peer_reads(200, nullptr, &eof);
        EXPECT_TRUE(eof);
    }
    EXPECT_EQ(bad, 0);
}

TEST_F(StreamTest, CloseSendsTheLastWordsThenCloses) {
    o->s.arm();
    const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 40};
    o->s.close_with(alert);
    EXPECT_TRUE(o->s.closing());
    EXPECT_TRUE(o->s.attached());  // closed once the cancel has completed
    ASSERT_TRUE(pump([&] { return o->finished(); }));
    EXPECT_EQ(o->released, 1);
    EXPECT_FALSE(o->s.release());  // once
    bool eof = false;
    EXPECT_EQ(pair.peer_reads(500, nullptr, &eof), std::string(alert, alert + sizeof(alert)));
    EXPECT_TRUE(eof);
    o->s.arm();  // closed: nothing more is submitted
    o->s.flush();
    EXPECT_TRUE(o->finished());
}

TEST_F(StreamTest, ResetOnCloseSendsAReset) {
    o->s.arm();
    records.write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("unsent"), 6));
    o->s.reset_on_close();
    o->s.close(true);
    ASSERT_TRUE(pump([&] { return o->finished(); }));
    int error = 0;
    bool eof = false;
    EXPECT_EQ(pair.peer_reads(500, &error, &eof), "");  // no last words before a reset
    EXPECT_EQ(error, ECONNRESET);
    EXPECT_FALSE(eof);
}

}  // namespace
}  // namespace tlsterm::transport
