// A real wolfSSL client over in-memory buffers, paired with a server-side
// tls::session: the unit-test transport for TLS. (Integration tests use
// curl and openssl over sockets.)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <tlsterm/config.h>

#include "common/byte_queue.h"
#include "tls/session.h"
#include "tls/wolfssl.h"

namespace tlsterm::test {

struct client_options {
    std::string sni{};
    std::string alpn{};     // comma-separated, client order
    std::string ciphers{};  // wolfSSL names; empty = library default
    std::string sigalgs{};  // wolfSSL list; empty = default
    int max_version = 0;    // 0 = TLS 1.3, else TLS1_2_VERSION
    std::string ca_file{};  // verify the server against this; empty = no verification
};

class memory_client {
  public:
    explicit memory_client(const client_options& o);
    ~memory_client();

    // The ClientHello (and later records) the client wrote.
    byte_queue& out() { return _out; }
    byte_queue& in() { return _in; }
    int connect();  // wolfSSL_connect result; WANT_READ maps to 0
    bool connected() const { return _connected; }
    std::string read_all();
    void write(const std::string& s);
    WOLFSSL* ssl() { return _ssl; }
    // The server certificate's subject, as wolfSSL prints it.
    const std::string& peer_subject() const { return _peer_subject; }

  private:
    static int io_recv(WOLFSSL*, char* buf, int sz, void* ctx);
    static int io_send(WOLFSSL*, char* buf, int sz, void* ctx);
    static int verify_callback(int preverify_ok, WOLFSSL_X509_STORE_CTX* store);

    WOLFSSL_CTX* _ctx = nullptr;
    WOLFSSL* _ssl = nullptr;
    bool _verify = false;
    std::string _peer_subject;
    byte_queue _in;
    byte_queue _out;
    bool _connected = false;
};

// A configuration of one listener with the test PKI's server certificates
// and `tls_lines` in its [listeners.tls] table.
std::shared_ptr<const config> one_listener_config(const std::string& tls_lines = "");

// Moves bytes both ways until both handshakes finish or one side fails.
// Returns true when both completed.
bool pump_handshake(memory_client& c, tls::session& s, int max_rounds = 20);

}  // namespace tlsterm::test
