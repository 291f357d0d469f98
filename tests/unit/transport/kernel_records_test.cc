// Kernel records (kTLS) without a kernel that has them: what a record of
// another type than application data means, which alert answers a record
// the kernel refused, and a stream on kernel records driven by scripted
// completions: every receive is a recvmsg that says the record's type, an
// alert goes out as a record of its own type, and the rest of a record can
// be read exactly. The kernel's own part runs in the VM (tests/vm).
#include "transport/kernel_records.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <vector>

#include "transport/stream.h"
#include "unit/harness/script.h"
#include "unit/transport/recording_owner.h"

namespace tlsterm::transport {
namespace {

using runtime::op;
using what = control_verdict::what;

control_verdict judge(uint8_t type, std::vector<uint8_t> body, bool server = true,
                      bool tls13 = true) {
    return read_control_record(type, body, server, tls13);
}

TEST(ControlRecords, AlertsEndOrBreakTheStream) {
    EXPECT_EQ(judge(record_alert, {1, 0}).kind, what::end);  // close_notify
    EXPECT_EQ(judge(record_alert, {2, 0}).kind, what::end);
    EXPECT_EQ(judge(record_alert, {1, 90}).kind, what::ignore);  // user_canceled warning
    auto fatal = judge(record_alert, {2, 40});
    EXPECT_EQ(fatal.kind, what::peer_alert);
    EXPECT_EQ(fatal.description, 40);
    EXPECT_EQ(judge(record_alert, {2}).kind, what::refuse);
    EXPECT_EQ(judge(record_alert, {2}).answer, tls::alert::decode_error);
    EXPECT_EQ(judge(record_alert, {1, 0, 0}).answer, tls::alert::decode_error);
}

TEST(ControlRecords, KeyUpdateIsNamedAndTicketsOnlyReachAClient) {
    EXPECT_EQ(judge(record_handshake, {24, 0, 0, 1, 0}).kind, what::key_update);
    EXPECT_EQ(judge(record_handshake, {24, 0, 0, 1, 1}).kind, what::key_update);
    EXPECT_EQ(judge(record_handshake, {24, 0, 0, 1, 2}).answer, tls::alert::decode_error);
    EXPECT_EQ(judge(record_handshake, {24, 0, 0, 2, 0, 0}).answer, tls::alert::decode_error);
    // NewSessionTicket and HelloRequest: dropped by a client, refused by a
    // server (no client sends them).
    std::vector<uint8_t> ticket = {4, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0};
    EXPECT_EQ(judge(record_handshake, ticket, false).kind, what::ignore);
    EXPECT_EQ(judge(record_handshake, ticket, true).kind, what::refuse);
    EXPECT_EQ(judge(record_handshake, ticket, true).answer, tls::alert::unexpected_message);
    EXPECT_EQ(judge(record_handshake, {0, 0, 0, 0}, false).kind, what::ignore);
    // A message cut short, an unknown one, another record type.
    EXPECT_EQ(judge(record_handshake, {4, 0, 0, 9, 1}, false).answer, tls::alert::decode_error);
    EXPECT_EQ(judge(record_handshake, {4, 0}, false).answer, tls::alert::decode_error);
    EXPECT_EQ(judge(record_handshake, {1, 0, 0, 0}).answer, tls::alert::unexpected_message);
    EXPECT_EQ(judge(record_change_cipher_spec, {1}).answer, tls::alert::unexpected_message);
    EXPECT_EQ(judge(99, {1}).answer, tls::alert::unexpected_message);
}

// RFC 8446 4.6.3 and 5246 7.4.1.2: an empty KeyUpdate is a decode_error;
// TLS 1.2 has no KeyUpdate; a ClientHello on a TLS 1.2 server asks to
// renegotiate (a warning, and the connection goes on), on TLS 1.3 or to a
// client it is out of place.
TEST(ControlRecords, EmptyKeyUpdateAndRenegotiation) {
    EXPECT_EQ(judge(record_handshake, {24, 0, 0, 0}).kind, what::refuse);
    EXPECT_EQ(judge(record_handshake, {24, 0, 0, 0}).answer, tls::alert::decode_error);
    EXPECT_EQ(judge(record_handshake, {24, 0, 0, 1, 0}, true, false).answer,
              tls::alert::unexpected_message);
    std::vector<uint8_t> hello = {1, 0, 0, 4, 3, 3, 0, 0};
    EXPECT_EQ(judge(record_handshake, hello, true, false).kind, what::no_renegotiation);
    EXPECT_EQ(judge(record_handshake, hello, true, true).answer, tls::alert::unexpected_message);
    EXPECT_EQ(judge(record_handshake, hello, false, false).answer, tls::alert::unexpected_message);
}

TEST(ControlRecords, ReceiveErrorsGetTheRfcAlert) {
    EXPECT_EQ(alert_for_receive_error(-EBADMSG), tls::alert::bad_record_mac);
    EXPECT_EQ(alert_for_receive_error(-EMSGSIZE), tls::alert::record_overflow);
    EXPECT_EQ(alert_for_receive_error(-EINVAL), tls::alert::decode_error);
    EXPECT_EQ(alert_for_receive_error(-ECONNRESET), std::nullopt);  // the socket's, not a record's
}

class KernelRecordsStream : public ::testing::Test {
  protected:
    KernelRecordsStream() : descriptors(test::script::open_descriptors()) {
        o = sc.slots.emplace<test::recording_owner>([&](uint32_t slot, uint32_t generation) {
            return std::make_unique<test::recording_owner>(sc.rt, slot, generation, op::client_recv,
                                                           op::client_send);
        });
        o->s.attach(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        o->s.set_records(&records);
    }
    void close_and_check(bool clean) {
        o->s.close(clean);
        sc.settle();
        sc.expect_all_returned(descriptors);
    }

    test::script sc{test::script::multishot()};
    std::size_t descriptors;
    kernel_records records{true};
    test::recording_owner* o = nullptr;
};

TEST_F(KernelRecordsStream, EveryReceiveIsOneRecvmsgSayingTheRecordType) {
    o->s.arm();
    auto r = sc.one(*o, op::client_recv);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->opcode, IORING_OP_RECVMSG);
    EXPECT_FALSE(r->multishot());  // a control record must never follow data unseen
    EXPECT_NE(r->flags & IOSQE_BUFFER_SELECT, 0);
    ASSERT_TRUE(
        sc.receive_record(*o, op::client_recv, record_application_data, "GET / HTTP/1.1\r\n"));
    EXPECT_EQ(o->received, "GET / HTTP/1.1\r\n");
    EXPECT_EQ(o->record_type, record_application_data);

    r = sc.one(*o, op::client_recv);  // armed again by the owner
    ASSERT_TRUE(r);
    ASSERT_TRUE(sc.receive_record(*o, op::client_recv, record_alert, std::string("\x01\x00", 2)));
    EXPECT_EQ(o->record_type, record_alert);
    close_and_check(true);
}

TEST_F(KernelRecordsStream, PlaintextGoesOutAsItIsAndTheEndAsAnAlertRecord) {
    records.write(std::span(reinterpret_cast<const uint8_t*>("hello"), 5));
    o->s.end_write();
    auto data = sc.one(*o, op::client_send);
    ASSERT_TRUE(data);
    EXPECT_EQ(data->opcode, IORING_OP_SEND);
    EXPECT_EQ(data->bytes(), "hello");  // the kernel makes the record
    sc.complete(*data, 5);
    auto alert = sc.one(*o, op::client_send);
    ASSERT_TRUE(alert);
    EXPECT_EQ(alert->opcode, IORING_OP_SENDMSG);
    EXPECT_EQ(alert->record_type(), record_alert);
    EXPECT_EQ(alert->bytes(), std::string("\x01\x00", 2));  // close_notify
    EXPECT_FALSE(o->s.write_shut());                        // the FIN after the alert
    sc.complete(*alert, 2);
    EXPECT_TRUE(o->s.write_shut());
    close_and_check(true);  // ended already: no second close_notify
}

// A warning (no_renegotiation) goes out after what was queued before it,
// and the stream goes on: more plaintext, then close_notify at the end.
TEST_F(KernelRecordsStream, AWarningGoesOutInOrderAndTheStreamGoesOn) {
    records.write(std::span(reinterpret_cast<const uint8_t*>("hello"), 5));
    records.warn(tls::alert::no_renegotiation);
    records.warn(tls::alert::no_renegotiation);  // one waits at a time
    // The next send: `bytes`, in a record of `type` (0: plaintext), completed.
    auto sent = [&](const std::string& bytes, uint8_t type) {
        auto s = sc.one(*o, op::client_send);
        ASSERT_TRUE(s);
        if (type != 0) {
            EXPECT_EQ(s->record_type(), type);
        }
        EXPECT_EQ(s->bytes(), bytes);
        sc.complete(*s, static_cast<int>(bytes.size()));
    };
    o->s.flush();
    sent("hello", 0);
    sent(std::string("\x01\x64", 2), record_alert);  // warning, no_renegotiation
    EXPECT_FALSE(o->s.write_shut());
    records.write(std::span(reinterpret_cast<const uint8_t*>("world"), 5));
    o->s.end_write();
    sent("world", 0);
    sent(std::string("\x01\x00", 2), record_alert);  // close_notify
    EXPECT_TRUE(o->s.write_shut());
    close_and_check(true);
}

TEST_F(KernelRecordsStream, AFailureSendsItsFatalAlertWithoutWaiting) {
    records.fail(tls::alert::bad_record_mac);
    o->s.close(false);
    auto alert = sc.one(*o, op::client_send);
    ASSERT_TRUE(alert);
    EXPECT_EQ(alert->opcode, IORING_OP_SENDMSG);
    EXPECT_NE(alert->op_flags & MSG_DONTWAIT, 0u);
    EXPECT_EQ(alert->record_type(), record_alert);
    EXPECT_EQ(alert->bytes(), std::string("\x02\x14", 2));
    sc.settle();
    sc.expect_all_returned(descriptors);
}

TEST_F(KernelRecordsStream, ACleanCloseSendsCloseNotify) {
    o->s.close(true);
    auto alert = sc.one(*o, op::client_send);
    ASSERT_TRUE(alert);
    EXPECT_EQ(alert->bytes(), std::string("\x01\x00", 2));
    sc.settle();
    sc.expect_all_returned(descriptors);
}

// The switch's exact read: one receive of at most the bytes missing, even
// while paused, and none while one is armed.
TEST(StreamExactRead, ReadsTheRestOfARecordAndNotAByteMore) {
    test::script sc{test::script::multishot()};
    std::size_t descriptors = test::script::open_descriptors();
    auto* o = sc.slots.emplace<test::recording_owner>([&](uint32_t slot, uint32_t generation) {
        return std::make_unique<test::recording_owner>(sc.rt, slot, generation, op::client_recv,
                                                       op::client_send);
    });
    o->s.attach(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    o->s.pause();
    o->s.arm_exactly(37);
    auto r = sc.one(*o, op::client_recv);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->opcode, IORING_OP_RECV);
    EXPECT_FALSE(r->multishot());
    EXPECT_EQ(r->len, 37u);
    EXPECT_TRUE(o->s.receive_armed());
    o->s.arm_exactly(37);  // one at a time
    EXPECT_EQ(sc.find(*o, op::client_recv).size(), 1u);
    ASSERT_TRUE(sc.receive(*o, op::client_recv, std::string(37, 'r')));
    EXPECT_FALSE(o->s.receive_armed());  // paused: the owner's arm() submits nothing
    EXPECT_FALSE(sc.has(*o, op::client_recv));
    o->s.arm_exactly(100000);  // bounded by the buffer size
    r = sc.one(*o, op::client_recv);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->len, 4096u);
    o->s.close(true);
    sc.settle();
    sc.expect_all_returned(descriptors);
}

}  // namespace
}  // namespace tlsterm::transport
