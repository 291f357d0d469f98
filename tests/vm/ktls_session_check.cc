// Run inside the kTLS VM (tools/ktls-vm): a TLS session made by tlsterm's
// server code (tls::session, wolfSSL over memory) against a real wolfSSL
// client hands its record layer to the kernel with the keys and sequence
// numbers transport::kernel_keys_of copies out of wolfSSL, after records
// already went both ways in userspace. The kernel's records must then be
// what the client's wolfSSL reads, and the client's records what the
// kernel decrypts: every suite and both versions. Prints one line per
// check; exits 0 when all pass. TLSTERM_TEST_PKI names the test PKI.
#include <sys/socket.h>

#include <cstdio>
#include <string>

#include "tls/client_auth.h"
#include "tls/client_hello.h"
#include "tls/server_context.h"
#include "transport/kernel_tls.h"
#include "unit/tls/memory_peer.h"
#include "vm/vm_check.h"

namespace {

using namespace tlsterm;

using vm::check;
using vm::loopback;
using vm::read_n;

// The server's pending records to the client, and the client's to the
// server, through wolfSSL in memory.
void exchange_in_userspace(test::memory_client& c, tls::session& s, const std::string& label) {
    std::string to_client = "userspace to client " + label;
    s.write(std::span(reinterpret_cast<const uint8_t*>(to_client.data()), to_client.size()));
    c.in().append(s.cipher_out().readable());
    s.cipher_out().clear();
    check(c.read_all() == to_client, label + ": a record from the server in userspace");
    std::string to_server = "userspace to server " + label;
    c.write(to_server);
    s.cipher_in().append(c.out().readable());
    c.out().clear();
    uint8_t buf[256];
    auto r = s.read(buf);
    check(r.status == tls::tls_status::ok &&
              std::string(reinterpret_cast<const char*>(buf), r.bytes) == to_server,
          label + ": a record from the client in userspace");
}

void one(const tls::server_context& ctx, const char* suite, int max_version) {
    const std::string label = std::string(suite);
    test::client_options o;
    o.ciphers = suite;
    o.max_version = max_version;
    test::memory_client c(o);
    if (c.connect() < 0) {
        check(false, label + ": client hello");
        return;
    }
    tls::client_hello hello;
    if (tls::parse_client_hello(c.out().readable(), hello) != tls::hello_status::complete) {
        check(false, label + ": hello parsed");
        return;
    }
    auto s = tls::session::create(ctx.select(hello));
    if (!check(s && test::pump_handshake(c, *s), label + ": handshake")) {
        return;
    }
    // Tickets and the like, then a record each way: the sequence numbers
    // the kernel starts from are not zero.
    c.in().append(s->cipher_out().readable());
    s->cipher_out().clear();
    c.read_all();
    exchange_in_userspace(c, *s, label);

    auto tx = transport::kernel_keys_of(*s, true);
    auto rx = transport::kernel_keys_of(*s, false);
    if (!check(tx && rx,
               label + ": keys from wolfSSL" +
                   (tx ? (rx ? "" : " (" + rx.error() + ")") : " (" + tx.error() + ")"))) {
        return;
    }
    std::printf("   %s: tx sequence %llu, rx sequence %llu\n", label.c_str(),
                static_cast<unsigned long long>(tx->sequence),
                static_cast<unsigned long long>(rx->sequence));
    // The server's socket (whose records the kernel does) is the accepted
    // end; the client's wolfSSL reads and writes raw bytes on the other.
    loopback p;
    if (!check(p.connected(), label + ": loopback connection")) {
        return;
    }
    auto ulp = transport::attach_tls_ulp(p.accepted);
    auto in_tx = ulp ? transport::install_keys(p.accepted, true, tx->view()) : ulp;
    auto in_rx = in_tx ? transport::install_keys(p.accepted, false, rx->view()) : in_tx;
    if (!check(bool(in_rx), label + ": kernel TX and RX installed" +
                                (in_rx ? "" : " (" + in_rx.error() + ")"))) {
        return;
    }
    for (int i = 0; i < 3; ++i) {
        std::string down = "kernel to client " + std::to_string(i) + " " + label;
        ::send(p.accepted, down.data(), down.size(), 0);
        // One record: header, then what the suite adds around the bytes.
        std::string header = read_n(p.dialed, 5);
        std::size_t len = 0;
        if (header.size() == 5) {
            len = static_cast<std::size_t>(static_cast<uint8_t>(header[3])) << 8 |
                  static_cast<uint8_t>(header[4]);
        }
        std::string record = header + read_n(p.dialed, len);
        c.in().append(std::span(reinterpret_cast<const uint8_t*>(record.data()), record.size()));
        check(c.read_all() == down, label + ": record " + std::to_string(i) +
                                        " from the kernel read by the client's wolfSSL");

        std::string up = "client to kernel " + std::to_string(i) + " " + label;
        c.write(up);
        auto bytes = c.out().readable();
        ::send(p.dialed, bytes.data(), bytes.size(), 0);
        c.out().clear();
        check(read_n(p.accepted, up.size()) == up,
              label + ": record " + std::to_string(i) + " from the client decrypted by the kernel");
    }
}

}  // namespace

int main() {
    tls::init_library();
    auto cfg = test::one_listener_config();
    auto anchors = tls::load_trust_anchors(*cfg);
    auto ctx = tls::server_context::create(cfg->listeners[0].name, cfg->listeners[0].tls, *anchors);
    if (!ctx) {
        std::printf("FAILED: server context: %s\n", ctx.error().c_str());
        return 1;
    }
    for (const char* suite :
         {"TLS13-AES128-GCM-SHA256", "TLS13-AES256-GCM-SHA384", "TLS13-CHACHA20-POLY1305-SHA256"}) {
        one(**ctx, suite, 0);
    }
    for (const char* suite : {"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"}) {
        one(**ctx, suite, TLS1_2_VERSION);
    }
    std::printf("%d failed\n", vm::failures);
    return vm::failures == 0 ? 0 : 1;
}
