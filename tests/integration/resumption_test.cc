// Session resumption end to end: tlsterm's own tickets (TLS 1.2 and 1.3)
// with openssl s_client and curl as clients, across shards and processes,
// through key rotation, under client-certificate policies, and with
// tickets tlsterm did not issue.
#include <signal.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include "support/openssl.h"
#include "support/origin.h"
#include "support/pki.h"
#include "support/process.h"
#include "support/server.h"

namespace tlsterm {
namespace {

namespace fs = std::filesystem;
using test::contains;
using test::run_process;
using test::s_client;
using test::wait_for_count;

const std::string get_request =
    "GET / HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n";

const std::vector<std::string> versions = {"-tls1_2", "-tls1_3"};

// One HTTP listener named "main" in front of the demo upstream; `tls` adds
// to its [listeners.tls] table, `sni` comes after the certificates.
std::string config(uint16_t upstream, const std::string& tls = "", const std::string& sni = "",
                   const std::string& http = "", int shards = 2) {
    return "[runtime]\nshards = " + std::to_string(shards) +
           "\nlog_level = \"debug\"\n"
           "[[upstreams]]\nname = \"up\"\naddresses = [\"127.0.0.1:" +
           std::to_string(upstream) +
           "\"]\n"
           "[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\nupstream = \"up\"\n"
           "mode = \"http\"\n" +
           (http.empty() ? "" : "[listeners.http]\n" + http) + "[listeners.tls]\n" + tls + "\n" +
           test::certificate_tables("pki/") + sni;
}

// The debug line tlsterm logs per handshake.
std::size_t resumed_count(const test::tlsterm_server& s) {
    return test::count_of(s.log(), " resumed handshake");
}

// Counters as SIGUSR1 reports them ("session tickets: ..." line).
std::string ticket_counters(test::tlsterm_server& s, std::size_t report) {
    s.process().signal(SIGUSR1);
    EXPECT_TRUE(wait_for_count(s, "session tickets: ", report)) << s.log();
    std::string log = s.log();
    auto at = log.rfind("session tickets: ");
    return log.substr(at, log.find('\n', at) - at);
}

// 80 random bytes: one ticket key (16 name, 32 HMAC, 32 AES).
std::string random_key() {
    std::random_device rd;
    std::string raw(80, '\0');
    for (auto& c : raw) {
        c = static_cast<char>(rd() & 0xff);
    }
    return raw;
}

// A key file of `keys`, one base64 line each, written aside and renamed over.
void write_keys(const fs::path& file, const std::vector<std::string>& keys) {
    std::string text;
    for (const auto& k : keys) {
        test::write_file(file.string() + ".raw", k);
        text += run_process({"base64", "-w0", file.string() + ".raw"}).out + "\n";
    }
    fs::remove(file.string() + ".raw");
    test::write_file(file.string() + ".new", text);
    fs::rename(file.string() + ".new", file);
}

// A key's name, and a ticket's first 16 bytes (the key it was sealed with).
std::vector<uint8_t> name_of(const std::string& key) {
    return {key.begin(), key.begin() + 16};
}
std::vector<uint8_t> name_of(const std::vector<uint8_t>& ticket) {
    return ticket.size() >= 16 ? std::vector<uint8_t>(ticket.begin(), ticket.begin() + 16)
                               : std::vector<uint8_t>{};
}

// The tickets of NewSessionTicket messages in an `s_client -trace`
// transcript ("ticket (len=196): 65F9...").
std::vector<std::vector<uint8_t>> traced_tickets(const std::string& out) {
    std::vector<std::vector<uint8_t>> tickets;
    std::istringstream in(out);
    bool in_message = false;  // the ClientHello's ticket is printed the same way
    for (std::string line; std::getline(in, line);) {
        if (contains(line, "NewSessionTicket, Length=")) {
            in_message = true;
            continue;
        }
        auto at = line.find("ticket (len=");
        auto colon = line.find("): ", at);
        if (!in_message || at == std::string::npos || colon == std::string::npos) {
            continue;
        }
        in_message = false;
        std::string hex = line.substr(colon + 3);
        std::vector<uint8_t> bytes;
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
            bytes.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
        }
        tickets.push_back(std::move(bytes));
    }
    return tickets;
}

class ResumptionTest : public ::testing::Test {
  protected:
    void SetUp() override { dir = test::make_temp_dir("resumption"); }
    fs::path session(const std::string& tag) const { return dir / (tag + ".pem"); }

    test::upstream_server upstream;
    fs::path dir;
};

// A session saved from one connection resumes on later ones, whichever
// shard they land on, on both versions; the ticket is tlsterm's (196
// bytes: wolfSSL's state plus tlsterm's sealed binding) with the
// configured lifetime as its hint.
TEST_F(ResumptionTest, ResumesOnEveryVersionAcrossShards) {
    test::tlsterm_server server(config(upstream.port(), "session_ticket_lifetime_s = 600\n"));
    for (const auto& v : versions) {
        auto s = session(v.substr(1));
        auto first = s_client(server.port(), "", {v, "-sess_out", s.string()}, get_request);
        EXPECT_TRUE(contains(first.out, "New, TLSv1.")) << first.out;
        EXPECT_TRUE(contains(first.out, "HTTP/1.1 200 OK")) << first.out;
        EXPECT_TRUE(contains(first.out, "lifetime hint: 600 (seconds)")) << first.out;
        EXPECT_EQ(test::session_ticket(s).size(), 196u) << v;
        // Six connections from six source ports: with two shards both get
        // some (SO_REUSEPORT hashes the 4-tuple).
        for (int i = 0; i < 6; ++i) {
            auto again = s_client(server.port(), "", {v, "-sess_in", s.string()}, get_request);
            EXPECT_TRUE(contains(again.out, "Reused, TLSv1.")) << v << "\n" << again.out;
            EXPECT_TRUE(contains(again.out, "HTTP/1.1 200 OK")) << again.out;
        }
    }
    EXPECT_EQ(resumed_count(server), 12u) << server.log();
    auto counters = ticket_counters(server, 1);
    EXPECT_TRUE(contains(counters, "12 handshakes resumed of 14")) << counters;
    EXPECT_TRUE(contains(counters, "refused: none")) << counters;
}

// curl keeps the session of its first connection and resumes it on the
// next (a new connection per request: Connection: close) with TLS 1.3
// tickets. On TLS 1.2 curl asks for no ticket (SSL_OP_NO_TICKET) and offers
// a session ID instead, which needs a server-side session cache: tlsterm
// keeps none, so those are full handshakes (as with nginx's default
// ssl_session_cache none).
TEST_F(ResumptionTest, CurlResumesWithTls13Tickets) {
    test::tlsterm_server server(config(upstream.port()));
    std::string url = "https://localhost:" + std::to_string(server.port()) + "/";
    for (const char* v : {"1.3", "1.2"}) {
        std::size_t before = resumed_count(server);
        auto r = run_process({"curl",
                              "-s",
                              "-w",
                              "%{http_code} ",
                              "--cacert",
                              test::pki("root-ca.pem").string(),
                              "--tlsv" + std::string(v),
                              "--tls-max",
                              v,
                              "-H",
                              "Connection: close",
                              "-o",
                              "/dev/null",
                              url,
                              "-o",
                              "/dev/null",
                              url,
                              "-o",
                              "/dev/null",
                              url},
                             30);
        EXPECT_EQ(r.out, "200 200 200 ") << v;
        if (std::string(v) == "1.3") {
            EXPECT_TRUE(wait_for_count(server, " resumed handshake", before + 2)) << server.log();
        } else {
            EXPECT_EQ(resumed_count(server), before) << server.log();
        }
    }
}

// Two processes with one key file resume each other's tickets; a rewritten
// file rotates: the old key still opens its tickets, and the resumed
// handshake hands out a new ticket under the new key (TLS 1.2 too:
// tools/wolfssl-patches/0003); once the old key leaves the file, its
// tickets get a full handshake.
TEST_F(ResumptionTest, SharedKeyFileAcrossProcessesAndRotation) {
    fs::path keys = dir / "ticket.keys";
    std::string k1 = random_key();
    write_keys(keys, {k1});
    std::string tls = "session_ticket_key_file = \"" + keys.string() + "\"\n";
    test::tlsterm_server a(config(upstream.port(), tls));
    test::tlsterm_server b(config(upstream.port(), tls));
    for (const auto& v : versions) {
        auto s = session("shared" + v);
        s_client(a.port(), "", {v, "-sess_out", s.string()}, get_request);
        EXPECT_EQ(name_of(test::session_ticket(s)), name_of(k1)) << v;
        auto on_b = s_client(b.port(), "", {v, "-sess_in", s.string()}, get_request);
        EXPECT_TRUE(contains(on_b.out, "Reused, TLSv1.")) << v << "\n" << on_b.out;
        EXPECT_TRUE(contains(on_b.out, "HTTP/1.1 200 OK")) << on_b.out;
    }

    // Rotate on a: a new sealing key first, the old one after it.
    std::string k2 = random_key();
    write_keys(keys, {k2, k1});
    a.process().signal(SIGHUP);
    ASSERT_TRUE(wait_for_count(a, "configuration reloaded", 1)) << a.log();
    for (const auto& v : versions) {
        auto old_ticket = session("shared" + v);
        auto renewed = session("renewed" + v);
        auto r =
            s_client(a.port(), "",
                     {v, "-trace", "-sess_in", old_ticket.string(), "-sess_out", renewed.string()},
                     get_request);
        EXPECT_TRUE(contains(r.out, "Reused, TLSv1.")) << v << "\n" << r.out;
        // The new ticket (s_client saves none from a resumed TLS 1.2
        // handshake: read it from the trace) is sealed with the new key.
        auto issued = traced_tickets(r.out);
        ASSERT_FALSE(issued.empty()) << v << "\n" << r.out;
        EXPECT_EQ(name_of(issued.front()), name_of(k2)) << v << "\n" << r.out;
        if (v == "-tls1_3") {
            auto fresh = s_client(a.port(), "", {v, "-sess_in", renewed.string()}, get_request);
            EXPECT_TRUE(contains(fresh.out, "Reused, TLSv1.")) << v << "\n" << fresh.out;
        }
    }

    // k1 leaves the file: its tickets are refused, a full handshake follows.
    write_keys(keys, {k2});
    a.process().signal(SIGHUP);
    ASSERT_TRUE(wait_for_count(a, "configuration reloaded", 2)) << a.log();
    for (const auto& v : versions) {
        auto r =
            s_client(a.port(), "", {v, "-sess_in", session("shared" + v).string()}, get_request);
        EXPECT_TRUE(contains(r.out, "New, TLSv1.")) << v << "\n" << r.out;
        EXPECT_TRUE(contains(r.out, "HTTP/1.1 200 OK")) << r.out;
    }
    auto counters = ticket_counters(a, 1);
    EXPECT_TRUE(contains(counters, "refused: unknown_key=2")) << counters;
    // No key material in the logs: neither key in base64 nor hex.
    for (const auto& k : {k1, k2}) {
        test::write_file(dir / "k.raw", k);
        std::string b64 = run_process({"base64", "-w0", (dir / "k.raw").string()}).out;
        EXPECT_FALSE(contains(a.log(), b64.substr(0, 24)));
    }
}

// A ticket issued where no certificate was asked for ("open" names,
// client_auth = "none") offered to a name that requires one: another policy,
// so a full handshake, where the missing certificate is refused. With a
// certificate it then works, and its own ticket resumes.
TEST_F(ResumptionTest, TicketFromAnotherPolicyGetsAFullHandshake) {
    std::string tls =
        "client_auth = \"require\"\nca_files = [{ file = \"pki/root-ca.pem\", crl_policy = "
        "\"optional\" }]\n";
    std::string sni =
        "[[listeners.tls.sni]]\nnames = [\"open.tlsterm.test\"]\nclient_auth = "
        "\"none\"\n";
    test::tlsterm_server server(config(upstream.port(), tls, sni));
    // Requests name the host the handshake did (sni_host_binding).
    const std::string open_request =
        "GET / HTTP/1.1\\r\\nHost: open.tlsterm.test\\r\\nConnection: close\\r\\n\\r\\n";
    const std::string secure_request =
        "GET / HTTP/1.1\\r\\nHost: tlsterm.test\\r\\nConnection: close\\r\\n\\r\\n";
    for (const auto& v : versions) {
        auto open = session("open" + v);
        auto r = s_client(server.port(), "",
                          {v, "-servername", "open.tlsterm.test", "-sess_out", open.string()},
                          open_request);
        EXPECT_TRUE(contains(r.out, "HTTP/1.1 200 OK")) << r.out;
        auto same = s_client(server.port(), "",
                             {v, "-servername", "open.tlsterm.test", "-sess_in", open.string()},
                             open_request);
        EXPECT_TRUE(contains(same.out, "Reused, TLSv1.")) << v << "\n" << same.out;
        auto other =
            s_client(server.port(), "",
                     {v, "-servername", "tlsterm.test", "-sess_in", open.string()}, secure_request);
        EXPECT_FALSE(contains(other.out, "Reused,")) << v << "\n" << other.out;
        EXPECT_FALSE(contains(other.out, "HTTP/1.1 200")) << v << "\n" << other.out;
        auto with = s_client(server.port(), "client-valid",
                             {v, "-servername", "tlsterm.test", "-sess_in", open.string(),
                              "-sess_out", session("secure" + v).string()},
                             secure_request);
        EXPECT_TRUE(contains(with.out, "New, TLSv1.")) << v << "\n" << with.out;
        EXPECT_TRUE(contains(with.out, "HTTP/1.1 200 OK")) << with.out;
        auto back =
            s_client(server.port(), "",
                     {v, "-servername", "tlsterm.test", "-sess_in", session("secure" + v).string()},
                     secure_request);
        EXPECT_TRUE(contains(back.out, "Reused, TLSv1.")) << v << "\n" << back.out;
        EXPECT_TRUE(contains(back.out, "HTTP/1.1 200 OK")) << back.out;
    }
    auto counters = ticket_counters(server, 1);
    EXPECT_TRUE(contains(counters, "policy=4")) << counters;
    EXPECT_FALSE(contains(server.log(), "unauthenticated connection")) << server.log();
}

// The identity headers of a resumed connection are those of the full
// handshake that issued its ticket, in every format (the chain of a client
// under an intermediate included); an optional listener resumes a
// certificate-less session as one.
TEST_F(ResumptionTest, IdentityHeadersEqualOnFullAndResumedRequests) {
    test::nginx_origin origin;
    std::string tls =
        "client_auth = \"optional\"\nca_files = [{ file = \"pki/ca-bundle.pem\", crl_policy = "
        "\"optional\" }]\n";
    const std::string headers =
        "GET /headers HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n";
    // The identity lines of /headers in an s_client transcript.
    auto identity = [](const std::string& out) {
        std::string lines;
        std::istringstream in(out);
        for (std::string line; std::getline(in, line);) {
            for (const char* key :
                 {"client_cert=", "client_cert_chain=", "xfcc=", "x_client_verify=",
                  "x_client_subject=", "x_client_serial=", "x_client_cert="}) {
                if (line.starts_with(key)) {
                    lines += line + "\n";
                }
            }
        }
        return lines;
    };
    for (const std::string format : {"fields", "rfc9440", "xfcc"}) {
        test::tlsterm_server server(
            config(origin.plain_port(), tls, "", "client_identity = \"" + format + "\"\n"));
        for (const auto& v : versions) {
            for (const char* client : {"client-intermediate", ""}) {
                std::string what = format + " " + v + " " + client;
                auto s = session(format + v + client);
                std::vector<std::string> args = {v, "-sess_out", s.string()};
                if (*client != 0) {
                    args.insert(args.end(),
                                {"-cert_chain", test::pki("intermediate-ca.pem").string()});
                }
                auto full = s_client(server.port(), client, args, headers);
                auto resumed = s_client(server.port(), "", {v, "-sess_in", s.string()}, headers);
                EXPECT_TRUE(contains(full.out, "New, TLSv1.")) << what << "\n" << full.out;
                EXPECT_TRUE(contains(resumed.out, "Reused, TLSv1.")) << what << resumed.out;
                std::string expected = identity(full.out);
                EXPECT_EQ(identity(resumed.out), expected) << what;
                bool has_cert = *client != 0;
                if (format == "fields") {
                    EXPECT_TRUE(contains(
                        expected, has_cert ? "x_client_verify=SUCCESS" : "x_client_verify=NONE"))
                        << what << "\n"
                        << expected;
                }
                if (format == "rfc9440" && has_cert) {
                    // The intermediate travels as Client-Cert-Chain.
                    EXPECT_TRUE(contains(expected, "client_cert_chain=:")) << expected;
                }
                if (format == "xfcc" && has_cert) {
                    EXPECT_TRUE(contains(expected, "xfcc=Hash=")) << expected;
                }
            }
        }
    }
}

// TLS 1.3: a ticket whose suite is not the server's first common one still
// resumes (wolfSSL 5.5.4 offers it to the ticket callback once per suite,
// the first time decrypting it in place; tlsterm answers the later calls
// from the first).
TEST_F(ResumptionTest, TicketWhoseSuiteIsNotTheServersFirst) {
    test::tlsterm_server server(
        config(upstream.port(),
               "ciphersuites_tls13 = [\"TLS_AES_128_GCM_SHA256\", \"TLS_AES_256_GCM_SHA384\", "
               "\"TLS_CHACHA20_POLY1305_SHA256\"]\n"));
    for (const char* suite : {"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
        auto s = session(suite);
        auto first =
            s_client(server.port(), "",
                     {"-tls1_3", "-ciphersuites", suite, "-sess_out", s.string()}, get_request);
        EXPECT_TRUE(contains(first.out, std::string("Cipher is ") + suite)) << first.out;
        auto again =
            s_client(server.port(), "",
                     {"-tls1_3", "-ciphersuites", std::string("TLS_AES_128_GCM_SHA256:") + suite,
                      "-sess_in", s.string()},
                     get_request);
        EXPECT_TRUE(contains(again.out, std::string("Reused, TLSv1.3, Cipher is ") + suite))
            << suite << "\n"
            << again.out;
        EXPECT_TRUE(contains(again.out, "HTTP/1.1 200 OK")) << again.out;
    }
}

// Tickets OpenSSL issued (as nginx and HAProxy do: 176 bytes and up, over
// 1536 with a large client certificate inside) offered to tlsterm on their
// own version, and a TLS 1.2 ticket in a TLS 1.3 hello: each a full
// handshake, never a failed one (tools/wolfssl-patches/0003).
TEST_F(ResumptionTest, ForeignOpenSslTicketsOfEverySize) {
    // A client certificate whose DER is large: RSA 4096 with many names.
    fs::path big_key = dir / "big.key";
    fs::path big_cert = dir / "big.pem";
    std::string sans = "subjectAltName=DNS:a0.tlsterm.test";
    for (int i = 1; i < 40; ++i) {
        sans += ",DNS:a-long-name-for-a-large-certificate-" + std::to_string(i) + ".tlsterm.test";
    }
    auto made = run_process({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                             big_key.string(), "-out", big_cert.string(), "-days", "2", "-subj",
                             "/O=tlsterm test/CN=big", "-addext", sans},
                            120);
    ASSERT_EQ(made.exit_code, 0) << made.err;
    uint16_t other = test::unused_port();
    test::child_process openssl_server(
        {"openssl", "s_server", "-accept", std::to_string(other), "-cert",
         test::pki("server-ecdsa.pem").string(), "-key", test::pki("server-ecdsa.key").string(),
         "-verify", "1", "-www"},
        dir / "s_server.log");
    ASSERT_TRUE(openssl_server.wait_for_output("ACCEPT")) << openssl_server.output();
    test::tlsterm_server server(config(upstream.port()));
    std::size_t largest_tls13 = 0;
    for (const auto& v : versions) {
        std::vector<fs::path> foreign;
        for (std::string client : {"none", "ecdsa", "big"}) {
            fs::path s = session("foreign-" + client + v);
            std::vector<std::string> args = {v, "-sess_out", s.string()};
            if (client == "ecdsa") {
                args.insert(args.end(), {"-cert", test::pki("client-valid.pem").string(), "-key",
                                         test::pki("client-valid.key").string()});
            } else if (client == "big") {
                args.insert(args.end(), {"-cert", big_cert.string(), "-key", big_key.string()});
            }
            s_client(other, "", args);
            ASSERT_TRUE(fs::exists(s)) << v << " " << client;
            std::size_t size = test::session_ticket(s).size();
            EXPECT_GT(size, 174u) << v << " " << client;
            if (v == "-tls1_3") {
                largest_tls13 = std::max(largest_tls13, size);
            }
            foreign.push_back(s);
        }
        for (const auto& s : foreign) {
            std::vector<std::vector<std::string>> offers = {{v, "-sess_in", s.string()}};
            if (v == "-tls1_2") {
                offers.push_back({"-sess_in", s.string()});  // TLS 1.3 allowed
            }
            for (const auto& offer : offers) {
                auto r = s_client(server.port(), "", offer, get_request);
                EXPECT_TRUE(contains(r.out, "New, TLSv1.")) << s << "\n" << r.out;
                EXPECT_TRUE(contains(r.out, "HTTP/1.1 200 OK")) << s << "\n" << r.out;
            }
        }
    }
    EXPECT_GT(largest_tls13, 1536u);  // past wolfSSL's MAX_PSK_ID_LEN
    EXPECT_FALSE(contains(server.log(), "handshake failed")) << server.log();
}

// session_ticket_lifetime_s is advertised and enforced by the server, not
// only by clients that honour the hint: tickets issued under a 60 s lifetime
// are refused once a reload shortened it to 1 s (generated keys survive the
// reload, so the refusal is "expired", not "unknown_key"); session_tickets =
// false issues none and resumes none.
TEST_F(ResumptionTest, LifetimeIsEnforcedAndTicketsCanBeOff) {
    {
        test::tlsterm_server server(config(upstream.port(), "session_ticket_lifetime_s = 60\n"));
        for (const auto& v : versions) {
            auto s = session("short" + v);
            auto first = s_client(server.port(), "", {v, "-sess_out", s.string()}, get_request);
            EXPECT_TRUE(contains(first.out, "lifetime hint: 60 (seconds)")) << first.out;
        }
        test::write_file(server.config_file(),
                         config(upstream.port(), "session_ticket_lifetime_s = 1\n"));
        server.process().signal(SIGHUP);
        ASSERT_TRUE(wait_for_count(server, "configuration reloaded", 1)) << server.log();
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        for (const auto& v : versions) {
            auto r = s_client(server.port(), "", {v, "-sess_in", session("short" + v).string()},
                              get_request);
            EXPECT_TRUE(contains(r.out, "New, TLSv1.")) << v << "\n" << r.out;
            EXPECT_TRUE(contains(r.out, "lifetime hint: 1 (seconds)")) << r.out;
        }
        auto counters = ticket_counters(server, 1);
        EXPECT_TRUE(contains(counters, "refused: expired=2")) << counters;
    }
    {
        test::tlsterm_server server(config(upstream.port(), "session_tickets = false\n"));
        for (const auto& v : versions) {
            auto s = session("off" + v);
            auto r = s_client(server.port(), "", {v, "-sess_out", s.string()}, get_request);
            EXPECT_FALSE(contains(r.out, "TLS session ticket:")) << r.out;
            if (fs::exists(s)) {
                EXPECT_TRUE(test::session_ticket(s).empty());
                auto again = s_client(server.port(), "", {v, "-sess_in", s.string()}, get_request);
                EXPECT_FALSE(contains(again.out, "Reused,")) << again.out;
            }
        }
    }
}

}  // namespace
}  // namespace tlsterm

namespace tlsterm {
namespace {

// Toward an origin the pool resumes its last session; when the origin
// refuses it (here: restarted with new ticket keys), the request still gets
// through: the pool drops the session and connects again with a full
// handshake (wolfSSL 5.5.4's client fails a TLS 1.2 handshake whose ticket
// was refused, OUT_OF_ORDER_E).
TEST_F(ResumptionTest, PoolRetriesARefusedSessionWithAFullHandshake) {
    uint16_t origin_port = test::unused_port();
    auto origin = [&](const std::string& tag) {
        auto p = std::make_unique<test::child_process>(
            std::vector<std::string>{"openssl", "s_server", "-accept", std::to_string(origin_port),
                                     "-cert", test::pki("server-ecdsa.pem").string(), "-cert_chain",
                                     test::pki("intermediate-ca.pem").string(), "-key",
                                     test::pki("server-ecdsa.key").string(), "-tls1_2", "-www"},
            dir / ("origin-" + tag + ".log"));
        EXPECT_TRUE(p->wait_for_output("ACCEPT")) << p->output();
        return p;
    };
    std::string toml =
        "[runtime]\nshards = 1\nlog_level = \"debug\"\n"
        "[[upstreams]]\nname = \"origin\"\naddresses = [\"127.0.0.1:" +
        std::to_string(origin_port) +
        "\"]\n[upstreams.tls]\nmode = \"tls\"\nca_file = \"pki/root-ca.pem\"\n"
        "server_name = \"tlsterm.test\"\n"
        "[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\nupstream = \"origin\"\n"
        "mode = \"http\"\n[listeners.tls]\n" +
        test::certificate_tables("pki/");
    auto first = origin("1");
    test::tlsterm_server server(toml);
    // s_server -www answers with its view of the session ("New," or
    // "Reused,") and closes, so each request is a new origin connection.
    auto get = [&] {
        return run_process({"curl", "-s", "-w", "%{http_code}", "--cacert",
                            test::pki("root-ca.pem").string(), "--max-time", "20",
                            "https://localhost:" + std::to_string(server.port()) + "/"},
                           30)
            .out;
    };
    auto r = get();
    EXPECT_TRUE(contains(r, "New, TLSv1.2") && r.ends_with("200")) << r << server.log();
    r = get();
    EXPECT_TRUE(contains(r, "Reused, TLSv1.2") && r.ends_with("200")) << r << server.log();
    first->signal(SIGTERM);
    first->wait();
    auto second = origin("2");  // new ticket keys: the saved session is refused
    r = get();
    EXPECT_TRUE(contains(r, "New, TLSv1.2") && r.ends_with("200")) << r << server.log();
    EXPECT_TRUE(contains(server.log(), "trying again with a full handshake")) << server.log();
    r = get();
    EXPECT_TRUE(contains(r, "Reused, TLSv1.2") && r.ends_with("200")) << r << server.log();
}

}  // namespace
}  // namespace tlsterm

namespace tlsterm {
namespace {

// PROXY v2 toward a TCP upstream: a resumed connection reports the
// certificate facts of the handshake that issued its ticket (verified, its
// CN), with PP2_CLIENT_CERT_SESS but not _CONN (the certificate was
// presented in the session, not on this connection), as HAProxy does.
TEST_F(ResumptionTest, ProxyV2OfAResumedConnection) {
    test::upstream_server pp2("proxy-v2");
    std::string toml =
        "[runtime]\nshards = 2\nlog_level = \"debug\"\n"
        "[[upstreams]]\nname = \"up\"\naddresses = [\"127.0.0.1:" +
        std::to_string(pp2.port()) +
        "\"]\nproxy_protocol = \"v2\"\n"
        "[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\nupstream = \"up\"\n"
        "[listeners.tls]\nclient_auth = \"optional\"\nca_files = [{ file = "
        "\"pki/root-ca.pem\", crl_policy = \"optional\" }]\n" +
        test::certificate_tables("pki/");
    test::tlsterm_server server(toml);
    // The JSON the upstream answers with, without the client's address.
    auto facts = [](const std::string& out) {
        auto at = out.find("{\"");
        if (at == std::string::npos) {
            return std::string();
        }
        std::string json = out.substr(at, out.find('}', at) - at + 1);
        auto src = json.find("\"source\": \"");
        if (src != std::string::npos) {
            json.erase(src, json.find('"', src + 11) - src + 3);
        }
        return json;
    };
    for (const auto& v : versions) {
        auto s = session("pp2" + v);
        auto full =
            s_client(server.port(), "client-valid", {v, "-sess_out", s.string()}, get_request);
        auto resumed = s_client(server.port(), "", {v, "-sess_in", s.string()}, get_request);
        EXPECT_TRUE(contains(resumed.out, "Reused, TLSv1.")) << v << "\n" << resumed.out;
        std::string a = facts(full.out);
        std::string b = facts(resumed.out);
        EXPECT_TRUE(contains(a, "\"ssl_cn\": \"client-valid\"")) << a;
        EXPECT_TRUE(contains(a, "\"ssl_client\": 7")) << a;  // SSL | CERT_CONN | CERT_SESS
        EXPECT_TRUE(contains(b, "\"ssl_client\": 5")) << b;  // SSL | CERT_SESS
        EXPECT_TRUE(contains(a, "\"ssl_verify\": 0")) << a;
        auto same = a;
        same.replace(same.find("\"ssl_client\": 7"), 15, "\"ssl_client\": 5");
        EXPECT_EQ(b, same) << v;
    }
}

}  // namespace
}  // namespace tlsterm
