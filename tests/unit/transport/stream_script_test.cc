// A stream driven by scripted completions (tests/unit/harness): every
// receive outcome (bytes, EOF, a reset, -ENOBUFS, -ECANCELED, -EAGAIN), pausing,
// short sends and the one send in flight, the end of the write side, and
// each way of closing, with the slot, the provided buffers and the
// descriptor all returned at the end.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "transport/records.h"
#include "transport/stream.h"
#include "unit/harness/script.h"
#include "unit/transport/recording_owner.h"

namespace tlsterm::transport {
namespace {

using runtime::op;

// A record layer whose ends are visible in the bytes: "<end>" for the end
// of output, "<bye>" or "<alert>" as last words.
class marked_records final : public record_layer {
  public:
    byte_queue& outgoing() override { return out; }
    tls_status write(std::span<const uint8_t> plaintext) override {
        out.append(plaintext);
        return tls_status::ok;
    }
    void end_output() override { put("<end>"); }
    void last_words(bool clean) override { put(clean ? "<bye>" : "<alert>"); }
    void put(std::string_view s) {
        out.append(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
    }
    byte_queue out;
};

class StreamScript : public ::testing::TestWithParam<bool> {
  protected:
    StreamScript()
        : sc(GetParam() ? test::script::multishot() : test::script::single_shot()),
          descriptors(test::script::open_descriptors()) {
        o = sc.slots.emplace<test::recording_owner>([&](uint32_t slot, uint32_t generation) {
            return std::make_unique<test::recording_owner>(sc.rt, slot, generation, op::client_recv,
                                                           op::client_send);
        });
        o->s.attach(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        o->s.set_records(&records);
    }

    // Closes and answers everything: the slot is freed, every buffer and
    // the descriptor returned.
    void close_and_check(bool clean = true) {
        o->s.close(clean);
        sc.settle();
        sc.expect_all_returned(descriptors);
    }

    test::script sc;
    std::size_t descriptors;
    void write(std::string_view bytes) {
        records.put(bytes);
        o->s.flush();
    }

    marked_records records;
    test::recording_owner* o = nullptr;
};

TEST_P(StreamScript, ReceivesWhileArmedAndReturnsEveryBuffer) {
    o->s.arm();
    auto r = sc.one(*o, op::client_recv);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->multishot(), GetParam());
    o->s.arm();  // armed already: nothing more
    EXPECT_EQ(sc.find(*o, op::client_recv).size(), 1u);

    ASSERT_TRUE(sc.receive(*o, op::client_recv, "hello "));
    ASSERT_TRUE(sc.receive(*o, op::client_recv, "world"));
    EXPECT_EQ(o->received, "hello world");
    EXPECT_EQ(sc.buffers->available(), sc.buffers->count());  // copied, then given back
    EXPECT_EQ(sc.find(*o, op::client_recv).size(), 1u);       // still (or again) armed
    close_and_check();
}

TEST_P(StreamScript, NoBuffersRearmsWithoutEndingTheStream) {
    o->s.arm();
    ASSERT_TRUE(sc.receive_end(*o, op::client_recv, -ENOBUFS));
    EXPECT_FALSE(o->ended);
    EXPECT_EQ(o->error, 0);
    EXPECT_FALSE(o->s.input_ended());
    EXPECT_EQ(sc.find(*o, op::client_recv).size(), 1u);  // re-armed
    ASSERT_TRUE(sc.receive(*o, op::client_recv, "after"));
    EXPECT_EQ(o->received, "after");
    close_and_check();
}

// A non-blocking socket (spliced) whose poll woke twice without a byte
// answers -EAGAIN: the receive is armed again, the send goes again, and
// nothing ends.
TEST_P(StreamScript, WouldBlockOnANonBlockingSocketGoesOn) {
    o->s.arm();
    ASSERT_TRUE(sc.receive_end(*o, op::client_recv, -EAGAIN));
    EXPECT_FALSE(o->s.input_ended());
    EXPECT_EQ(o->error, 0);
    EXPECT_EQ(sc.find(*o, op::client_recv).size(), 1u);  // re-armed
    write("0123456789");
    auto s = sc.one(*o, op::client_send);
    ASSERT_TRUE(s);
    sc.complete(*s, -EAGAIN);
    EXPECT_EQ(sc.send(*o, op::client_send), "0123456789");  // the same bytes, whole
    EXPECT_FALSE(o->s.sending());
    close_and_check();
}

TEST_P(StreamScript, EndOfStreamIsNeverRearmed) {
    o->s.arm();
    ASSERT_TRUE(sc.receive(*o, op::client_recv, "last"));
    ASSERT_TRUE(sc.receive_end(*o, op::client_recv, 0));
    EXPECT_TRUE(o->ended);
    EXPECT_TRUE(o->s.input_ended());
    EXPECT_FALSE(sc.has(*o, op::client_recv));
    o->s.arm();
    EXPECT_FALSE(sc.has(*o, op::client_recv));
    close_and_check();
}

TEST_P(StreamScript, ResetEndsTheInputWithItsError) {
    o->s.arm();
    ASSERT_TRUE(sc.receive_end(*o, op::client_recv, -ECONNRESET));
    EXPECT_EQ(o->error, -ECONNRESET);
    EXPECT_TRUE(o->s.input_ended());
    EXPECT_FALSE(sc.has(*o, op::client_recv));
    close_and_check(false);
}

TEST_P(StreamScript, PauseCancelsTheReceiveAndResumeArmsIt) {
    o->s.arm();
    o->s.pause();
    EXPECT_TRUE(o->s.paused());
    sc.settle();  // the cancel: the receive completes with -ECANCELED
    EXPECT_FALSE(sc.has(*o, op::client_recv));
    EXPECT_FALSE(o->ended);
    EXPECT_EQ(o->error, 0);
    o->s.arm();  // paused: not armed
    EXPECT_FALSE(sc.has(*o, op::client_recv));
    o->s.resume();
    ASSERT_TRUE(sc.receive(*o, op::client_recv, "more"));
    EXPECT_EQ(o->received, "more");
    close_and_check();
}

TEST_P(StreamScript, ShortSendsGoOnFromTheSameBytesOneSendInFlight) {
    write("0123456789");
    auto first = sc.one(*o, op::client_send);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->bytes(), "0123456789");
    write("abc");  // queued behind the send in flight
    EXPECT_EQ(sc.find(*o, op::client_send).size(), 1u);
    EXPECT_EQ(o->s.backlog(), 13u);
    EXPECT_EQ(sc.send(*o, op::client_send, 4), "0123");
    EXPECT_EQ(o->drained, 0);
    EXPECT_EQ(o->s.in_flight_bytes(), 6u);
    EXPECT_EQ(sc.send(*o, op::client_send), "456789");
    EXPECT_EQ(o->drained, 1);
    EXPECT_EQ(sc.send(*o, op::client_send), "abc");
    EXPECT_EQ(o->drained, 2);
    EXPECT_EQ(o->s.backlog(), 0u);
    close_and_check();
}

TEST_P(StreamScript, SendErrorIsReported) {
    write("lost");
    sc.complete(*sc.one(*o, op::client_send), -EPIPE);
    EXPECT_EQ(o->error, -EPIPE);
    close_and_check(false);
}

TEST_P(StreamScript, EndWriteSendsTheEndThenFinAfterEverythingQueued) {
    write("data");
    o->s.end_write();
    EXPECT_FALSE(o->s.write_shut());  // the FIN waits for the bytes
    for (const auto& s : sc.pending()) {
        EXPECT_NE(s.opcode, IORING_OP_SHUTDOWN);
    }
    EXPECT_EQ(sc.send_all(*o, op::client_send), "data<end>");
    EXPECT_TRUE(o->s.write_shut());
    bool shutdown = false;
    for (const auto& s : sc.pending()) {
        shutdown = shutdown || (s.opcode == IORING_OP_SHUTDOWN && s.len == SHUT_WR);
    }
    EXPECT_TRUE(shutdown);
    write("too late");  // the write side is shut
    EXPECT_FALSE(sc.has(*o, op::client_send));
    close_and_check();
}

TEST_P(StreamScript, CleanCloseSendsLastWordsWithoutWaiting) {
    o->s.arm();
    o->s.close(true);
    auto words = sc.one(*o, op::client_send);
    ASSERT_TRUE(words);
    EXPECT_EQ(words->bytes(), "<bye>");
    EXPECT_NE(words->op_flags & MSG_DONTWAIT, 0u);
    close_and_check();
}

TEST_P(StreamScript, FailedCloseSendsTheAlert) {
    o->s.close(false);
    auto words = sc.one(*o, op::client_send);
    ASSERT_TRUE(words);
    EXPECT_EQ(words->bytes(), "<alert>");
    close_and_check(false);
}

TEST_P(StreamScript, CloseWithASendInFlightAddsNoWords) {
    write("in flight");
    o->s.close(true);
    EXPECT_EQ(sc.find(*o, op::client_send).size(), 1u);  // only the one in flight
    EXPECT_EQ(sc.find(*o, op::client_send).front().bytes(), "in flight");
    close_and_check();
}

TEST_P(StreamScript, ResetCloseLingersZeroAndSaysNothing) {
    o->s.arm();
    o->s.reset_on_close();
    int fd = o->s.fd();
    o->s.close(true);
    EXPECT_FALSE(sc.has(*o, op::client_send));
    linger l{};
    socklen_t len = sizeof(l);
    ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len), 0);
    EXPECT_EQ(l.l_onoff, 1);
    EXPECT_EQ(l.l_linger, 0);
    close_and_check();
}

TEST_P(StreamScript, TheSocketClosesOnlyAfterEverythingOnItCompleted) {
    o->s.arm();
    write("x");
    o->s.close(true);
    // The cancel is pending, the receive and the send still in flight: no
    // close yet (its descriptor number must stay this socket's).
    for (const auto& s : sc.pending()) {
        EXPECT_NE(s.opcode, IORING_OP_CLOSE);
    }
    EXPECT_TRUE(o->s.attached());
    close_and_check();
}

TEST_P(StreamScript, CloseWithBeforeAnyRecordLayer) {
    o->s.set_records(nullptr);
    const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
    o->s.close_with(alert);
    auto words = sc.one(*o, op::client_send);
    ASSERT_TRUE(words);
    EXPECT_EQ(words->bytes(), std::string(reinterpret_cast<const char*>(alert), sizeof(alert)));
    close_and_check(false);
}

INSTANTIATE_TEST_SUITE_P(Receives, StreamScript, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "multishot" : "single_shot"; });

}  // namespace
}  // namespace tlsterm::transport
