#include <tlsterm/config.h>

#include <gtest/gtest.h>

#include <regex>

#include "support/pki.h"

namespace tlsterm {
namespace {

// "line:column" (1-based) of the `nth` occurrence of `needle` in `text`.
std::string pos_of(std::string_view text, std::string_view needle, int nth = 1) {
    std::size_t at = std::string_view::npos;
    std::size_t from = 0;
    for (int i = 0; i < nth; ++i) {
        at = text.find(needle, from);
        if (at == std::string_view::npos) {
            ADD_FAILURE() << "needle not found: " << needle;
            return "?";
        }
        from = at + 1;
    }
    std::size_t line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < at; ++i) {
        if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    return std::to_string(line) + ":" + std::to_string(at - line_start + 1);
}

constexpr std::string_view upstream_section = R"(
[[upstreams]]
name = "app"
addresses = ["127.0.0.1:9000", "[::1]:9001"]
)";

// One listener; `tls_extra` goes inside [listeners.tls], `listener_extra`
// inside [[listeners]].
std::string listener(std::string_view name = "l0", std::string_view address = "127.0.0.1:0",
                     std::string_view tls_extra = "", std::string_view listener_extra = "",
                     std::string_view certs = "") {
    std::string out = "\n[[listeners]]\nname = \"" + std::string(name) + "\"\naddress = \"" +
                      std::string(address) + "\"\nupstream = \"app\"\n" +
                      std::string(listener_extra) + "\n[listeners.tls]\n" + std::string(tls_extra) +
                      "\n";
    if (certs.empty()) {
        out +=
            "[[listeners.tls.certificates]]\ncert = \"server-ecdsa.chain.pem\"\n"
            "key = \"server-ecdsa.key\"\n";
    } else {
        out += certs;
    }
    return out;
}

std::string minimal() {
    return std::string(upstream_section) + listener();
}

auto load(const std::string& text) {
    return load_config_from_string(text, "t.toml", test::pki_dir());
}

// The error line for `text`, or a marker when it loaded.
std::string error_of(const std::string& text) {
    auto c = load(text);
    if (c) {
        return "(loaded without error)";
    }
    return c.error().to_string();
}

std::string abs(const std::string& name) {
    return test::pki(name).lexically_normal().string();
}

// ---- valid configs ---------------------------------------------------------

TEST(ConfigLoad, MinimalConfigGetsDefaults) {
    auto c = load(minimal());
    ASSERT_TRUE(c) << c.error().to_string();
    const config& cfg = **c;
    EXPECT_EQ(cfg.runtime.shards, 0u);
    EXPECT_FALSE(cfg.runtime.pin_cpus);
    EXPECT_EQ(cfg.runtime.drain_timeout_ms, 30000u);
    EXPECT_EQ(cfg.runtime.log, log_level::info);
    EXPECT_EQ(cfg.limits.max_connections_per_shard, 16384u);
    EXPECT_EQ(cfg.limits.handshake_timeout_ms, 10000u);
    EXPECT_EQ(cfg.limits.idle_timeout_ms, 60000u);
    EXPECT_EQ(cfg.limits.max_buffered_bytes, 262144u);
    EXPECT_EQ(cfg.limits.lingering_close_ms, 5000u);
    ASSERT_EQ(cfg.upstreams.size(), 1u);
    EXPECT_EQ(cfg.upstreams[0].addresses.size(), 2u);
    EXPECT_EQ(cfg.upstreams[0].addresses[1].to_string(), "[::1]:9001");
    EXPECT_EQ(cfg.upstreams[0].connect_timeout_ms, 2000u);
    ASSERT_EQ(cfg.listeners.size(), 1u);
    const auto& l = cfg.listeners[0];
    EXPECT_EQ(l.name, "l0");
    EXPECT_EQ(cfg.find_upstream(l.upstream), &cfg.upstreams[0]);
    EXPECT_EQ(l.tls.min_version, tls_version::tls1_2);
    EXPECT_EQ(l.tls.max_version, tls_version::tls1_3);
    EXPECT_EQ(l.tls.groups,
              (std::vector<tls_group>{tls_group::x25519, tls_group::p256, tls_group::p384}));
    EXPECT_EQ(l.tls.client_auth.mode, client_auth_mode::none);
    EXPECT_EQ(l.tls.client_auth.verify_depth, 4u);
    ASSERT_EQ(l.tls.certificates.size(), 1u);
    const auto& cert = l.tls.certificates[0];
    EXPECT_EQ(cert.type, key_type::ecdsa);
    EXPECT_EQ(cert.cert.path, test::pki("server-ecdsa.chain.pem"));
    EXPECT_EQ(cert.cert.origin.to_string(), "listeners[0].tls.certificates[0].cert (t.toml:" +
                                                pos_of(minimal(), "\"server-ecdsa.chain.pem\"") +
                                                ")");
    // Names come from the certificate when the config gives none.
    EXPECT_EQ(cert.names, (std::vector<std::string>{"localhost", "tlsterm.test", "www.tlsterm.test",
                                                    "api.tlsterm.test", "*.wild.tlsterm.test"}));
}

TEST(ConfigLoad, FullListenerSettings) {
    std::string tls = R"(
min_version = "1.3"
max_version = "1.3"
ciphers_tls12 = ["ECDHE-ECDSA-AES128-GCM-SHA256"]
ciphersuites_tls13 = ["TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"]
groups = ["P-384", "X25519"]
signature_algorithms = ["ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256"]
alpn = ["h2", "http/1.1"]
client_auth = "require"
ca_files = ["root-ca.pem", "ca-bundle.pem"]
crl_files = ["root-ca.crl.pem", "intermediate-ca.crl.der", "root-ca-delta.crl.pem"]
verify_depth = 2
)";
    std::string certs = R"(
[[listeners.tls.certificates]]
cert = "server-ecdsa.chain.pem"
key = "server-ecdsa.key"
names = ["Example.COM", "*.example.com"]
[[listeners.tls.certificates]]
cert = "server-rsa.chain.pem"
key = "server-rsa.key"
names = ["example.com"]
)";
    std::string text = R"(
[runtime]
shards = 3
pin_cpus = true
drain_timeout_ms = 0
log_level = "debug"
[limits]
max_connections_per_shard = 10
handshake_timeout_ms = 100
idle_timeout_ms = 1000
max_buffered_bytes = 16384
lingering_close_ms = 0
)" + std::string(upstream_section) +
                       listener("l0", "[::]:8443", tls, "", certs);
    auto c = load(text);
    ASSERT_TRUE(c) << c.error().to_string();
    const config& cfg = **c;
    EXPECT_EQ(cfg.runtime.shards, 3u);
    EXPECT_TRUE(cfg.runtime.pin_cpus);
    EXPECT_EQ(cfg.runtime.drain_timeout_ms, 0u);
    EXPECT_EQ(cfg.runtime.log, log_level::debug);
    EXPECT_EQ(cfg.limits.max_connections_per_shard, 10u);
    EXPECT_EQ(cfg.limits.lingering_close_ms, 0u);
    const auto& t = cfg.listeners[0].tls;
    EXPECT_EQ(cfg.listeners[0].address.to_string(), "[::]:8443");
    EXPECT_EQ(t.min_version, tls_version::tls1_3);
    EXPECT_EQ(t.ciphersuites_tls13.size(), 2u);
    EXPECT_EQ(t.groups, (std::vector<tls_group>{tls_group::p384, tls_group::x25519}));
    EXPECT_EQ(t.signature_algorithms.size(), 2u);
    EXPECT_EQ(t.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
    EXPECT_EQ(t.client_auth.mode, client_auth_mode::require);
    EXPECT_EQ(t.client_auth.ca_files.size(), 2u);
    ASSERT_EQ(t.crl_files.size(), 3u);
    EXPECT_EQ(t.crl_files[1].path, test::pki("intermediate-ca.crl.der"));
    EXPECT_EQ(t.client_auth.verify_depth, 2u);
    ASSERT_EQ(t.certificates.size(), 2u);
    EXPECT_EQ(t.certificates[0].names, (std::vector<std::string>{"example.com", "*.example.com"}));
    EXPECT_EQ(t.certificates[1].type, key_type::rsa);
}

TEST(ConfigLoad, EcdsaAndRsaMayShareNames) {
    std::string certs = R"(
[[listeners.tls.certificates]]
cert = "server-ecdsa.chain.pem"
key = "server-ecdsa.key"
[[listeners.tls.certificates]]
cert = "server-rsa.chain.pem"
key = "server-rsa.key"
)";
    auto c = load(std::string(upstream_section) + listener("l0", "127.0.0.1:0", "", "", certs));
    ASSERT_TRUE(c) << c.error().to_string();
}

TEST(ConfigLoad, SeveralListenersAndFamilies) {
    std::string text = std::string(upstream_section) + listener("a", "0.0.0.0:8443") +
                       listener("b", "[::]:8443") + listener("c", "127.0.0.1:0") +
                       listener("d", "127.0.0.2:0");
    auto c = load(text);
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ((*c)->listeners.size(), 4u);
}

TEST(ConfigLoad, AbsolutePathsAreKept) {
    std::string text =
        std::string(upstream_section) +
        listener("l0", "127.0.0.1:0", "", "",
                 "[[listeners.tls.certificates]]\ncert = \"" + abs("server-rsa.chain.pem") +
                     "\"\nkey = \"" + abs("server-rsa.key") + "\"\n");
    auto c = load_config_from_string(text, "t.toml", "/");
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ((*c)->listeners[0].tls.certificates[0].key.path, test::pki("server-rsa.key"));
}

// The shipped default config, with the demo PKI beside it, must load.
TEST(ConfigLoad, ShippedDefaultConfigIsValid) {
    auto dir = test::make_temp_dir("config");
    std::filesystem::copy_file(TLSTERM_SOURCE_DIR "/config/tlsterm.toml", dir / "tlsterm.toml");
    std::filesystem::create_directory_symlink(test::pki_dir(), dir / "demo");
    auto c = load_config(dir / "tlsterm.toml");
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ((*c)->source, dir / "tlsterm.toml");
    EXPECT_EQ((*c)->listeners.size(), 1u);
    EXPECT_EQ((*c)->listeners[0].tls.certificates.size(), 2u);
    EXPECT_EQ((*c)->listeners[0].tls.alpn, (std::vector<std::string>{"http/1.1"}));
}

// ---- error classes ---------------------------------------------------------

TEST(ConfigErrors, MissingConfigFile) {
    auto dir = test::make_temp_dir("config");
    auto c = load_config(dir / "nope.toml");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().to_string(),
              (dir / "nope.toml").string() + ": no such file: " + (dir / "nope.toml").string());
}

TEST(ConfigErrors, TomlSyntax) {
    std::string text = "[runtime]\nshards = = 2\n";
    EXPECT_EQ(error_of(text),
              "t.toml:2:10: TOML syntax error: Error while parsing value: could not determine "
              "value type");
    EXPECT_EQ(error_of("[runtime]\nshards = 1\nshards = 2\n").substr(0, 31),
              "t.toml:3:10: TOML syntax error:");
}

TEST(ConfigErrors, UnknownKeys) {
    std::string text = "[runtime]\nshards = 1\nshard = 2\nzzz_unrelated = 1\n" + minimal();
    EXPECT_EQ(error_of(text), "runtime.shard (t.toml:3:1): unknown key (did you mean \"shards\"?)");

    text = minimal() + "crl_file = [\"root-ca.crl.pem\"]\n";
    // Appended after the certificates table: it belongs to that table.
    EXPECT_EQ(error_of(text), "listeners[0].tls.certificates[0].crl_file (t.toml:" +
                                  pos_of(text, "crl_file") + "): unknown key");

    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "crl_file = []");
    EXPECT_EQ(error_of(text), "listeners[0].tls.crl_file (t.toml:" + pos_of(text, "crl_file") +
                                  "): unknown key (did you mean \"crl_files\"?)");

    text = "[bogus]\nx = 1\n" + minimal();
    EXPECT_EQ(error_of(text), "bogus (t.toml:1:2): unknown key");
}

TEST(ConfigErrors, WrongTypes) {
    std::string text = "[runtime]\nshards = true\n" + minimal();
    EXPECT_EQ(error_of(text),
              "runtime.shards (t.toml:2:10): expected \"auto\" or an integer, "
              "got boolean");
    text = "[runtime]\nshards = \"many\"\n" + minimal();
    EXPECT_EQ(error_of(text),
              "runtime.shards (t.toml:2:10): expected \"auto\" or an integer, "
              "got \"many\"");
    text = "[limits]\nidle_timeout_ms = \"60s\"\n" + minimal();
    EXPECT_EQ(error_of(text),
              "limits.idle_timeout_ms (t.toml:2:19): expected an integer, got string");
    text = "[limits]\nidle_timeout_ms = 1.5\n" + minimal();
    EXPECT_EQ(error_of(text),
              "limits.idle_timeout_ms (t.toml:2:19): expected an integer, got float");
    text = "[runtime]\npin_cpus = 1\n" + minimal();
    EXPECT_EQ(error_of(text),
              "runtime.pin_cpus (t.toml:2:12): expected true or false, got integer");
    text = "runtime = 5\n" + minimal();
    EXPECT_EQ(error_of(text), "runtime (t.toml:1:11): expected a table, got integer");

    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "alpn = \"h2\"");
    EXPECT_EQ(error_of(text), "listeners[0].tls.alpn (t.toml:" + pos_of(text, "\"h2\"") +
                                  "): expected an array of strings, got string");
    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "alpn = [\"h2\", 3]");
    EXPECT_EQ(error_of(text), "listeners[0].tls.alpn[1] (t.toml:" + pos_of(text, "3]") +
                                  "): expected a string, got integer");
    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "", "name2 = 1");
    EXPECT_EQ(error_of(text), "listeners[0].name2 (t.toml:" + pos_of(text, "name2") +
                                  "): unknown key (did you mean \"name\"?)");
    text = "listeners = 3\n" + std::string(upstream_section);
    EXPECT_EQ(error_of(text),
              "listeners (t.toml:1:13): expected an array of tables ([[listeners]]), got integer");
    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "", "upstream = 7");
    EXPECT_NE(error_of(text).find("TOML syntax error"), std::string::npos);  // redefined key
}

TEST(ConfigErrors, OutOfRange) {
    std::string text = "[runtime]\nshards = 0\n" + minimal();
    EXPECT_EQ(error_of(text),
              "runtime.shards (t.toml:2:10): must be \"auto\" or between 1 and 1024, got 0");
    text = "[runtime]\nshards = 5000\n" + minimal();
    EXPECT_EQ(error_of(text),
              "runtime.shards (t.toml:2:10): must be \"auto\" or between 1 and 1024, got 5000");
    text = "[limits]\nhandshake_timeout_ms = 99\n" + minimal();
    EXPECT_EQ(error_of(text),
              "limits.handshake_timeout_ms (t.toml:2:24): must be between 100 and 600000, got 99");
    text = "[limits]\nlingering_close_ms = 600001\n" + minimal();
    EXPECT_EQ(error_of(text),
              "limits.lingering_close_ms (t.toml:2:22): must be between 0 and 600000, got 600001");
    text = "[limits]\nmax_buffered_bytes = -1\n" + minimal();
    EXPECT_EQ(error_of(text),
              "limits.max_buffered_bytes (t.toml:2:22): must be between 16384 and 67108864, "
              "got -1");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0",
                    "client_auth = \"require\"\nca_files = [\"root-ca.pem\"]\n"
                    "require_x509v3 = \"yes\"");
    EXPECT_EQ(error_of(text), "listeners[0].tls.require_x509v3 (t.toml:" + pos_of(text, "\"yes\"") +
                                  "): expected true or false, got string");
    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "verify_depth = 17");
    EXPECT_EQ(error_of(text), "listeners[0].tls.verify_depth (t.toml:" + pos_of(text, "17") +
                                  "): must be between 1 and 16, got 17");
    text =
        "[[upstreams]]\nname = \"app\"\naddresses = [\"127.0.0.1:1\"]\n"
        "connect_timeout_ms = 700000\n" +
        listener();
    EXPECT_EQ(error_of(text),
              "upstreams[0].connect_timeout_ms (t.toml:4:22): must be between "
              "10 and 600000, got 700000");
}

TEST(ConfigErrors, BadEnumsAndVersions) {
    std::string text = "[runtime]\nlog_level = \"verbose\"\n" + minimal();
    EXPECT_EQ(error_of(text),
              "runtime.log_level (t.toml:2:13): expected one of \"error\", "
              "\"warn\", \"info\", \"debug\", got \"verbose\"");
    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "min_version = \"1.1\"");
    EXPECT_EQ(error_of(text), "listeners[0].tls.min_version (t.toml:" + pos_of(text, "\"1.1\"") +
                                  "): expected one of \"1.2\", \"1.3\", got \"1.1\"");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "min_version = \"1.3\"\nmax_version = \"1.2\"");
    EXPECT_EQ(error_of(text), "listeners[0].tls.max_version (t.toml:" + pos_of(text, "\"1.2\"") +
                                  "): max_version is lower than min_version");
    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "client_auth = \"yes\"");
    EXPECT_EQ(error_of(text), "listeners[0].tls.client_auth (t.toml:" + pos_of(text, "\"yes\"") +
                                  "): expected one of \"none\", \"optional\", \"require\", got "
                                  "\"yes\"");
}

TEST(ConfigErrors, TlsParameterNames) {
    std::string text = std::string(upstream_section) +
                       listener("l0", "127.0.0.1:0", "ciphers_tls12 = [\"AES128-SHA\"]");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.ciphers_tls12[0] (t.toml:" + pos_of(text, "\"AES128-SHA\"") +
                  "): unsupported cipher suite \"AES128-SHA\" (supported: "
                  "ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES256-GCM-SHA384, "
                  "ECDHE-ECDSA-CHACHA20-POLY1305, ECDHE-RSA-AES128-GCM-SHA256, "
                  "ECDHE-RSA-AES256-GCM-SHA384, ECDHE-RSA-CHACHA20-POLY1305)");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "ciphersuites_tls13 = [\"ECDHE-RSA-AES128-GCM-SHA256\"]");
    EXPECT_NE(error_of(text).find("unsupported cipher suite \"ECDHE-RSA-AES128-GCM-SHA256\" "
                                  "(supported: TLS_AES_128_GCM_SHA256,"),
              std::string::npos)
        << error_of(text);
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "groups = [\"X25519\", \"X448\"]");
    EXPECT_EQ(error_of(text), "listeners[0].tls.groups[1] (t.toml:" + pos_of(text, "\"X448\"") +
                                  "): unknown group \"X448\"");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "groups = [\"P-256\", \"P-256\"]");
    EXPECT_EQ(error_of(text), "listeners[0].tls.groups[1] (t.toml:" + pos_of(text, "\"P-256\"", 2) +
                                  "): duplicate group \"P-256\"");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "signature_algorithms = [\"ed25519\"]");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.signature_algorithms[0] (t.toml:" + pos_of(text, "\"ed25519\"") +
                  "): unknown signature algorithm \"ed25519\"");
    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "alpn = [\"h2\", \"h2\"]");
    EXPECT_EQ(error_of(text), "listeners[0].tls.alpn[1] (t.toml:" + pos_of(text, "\"h2\"", 2) +
                                  "): duplicate ALPN protocol \"h2\"");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "alpn = [\"" + std::string(256, 'a') + "\"]");
    EXPECT_NE(error_of(text).find("an ALPN protocol name is at most 255 bytes"), std::string::npos);
    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "alpn = [\"\"]");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.alpn[0] (t.toml:" + pos_of(text, "\"\"]") + "): must not be empty");
}

TEST(ConfigErrors, Addresses) {
    std::string text = std::string(upstream_section) + listener("l0", "localhost:443");
    EXPECT_EQ(error_of(text), "listeners[0].address (t.toml:" + pos_of(text, "\"localhost:443\"") +
                                  "): not a numeric IPv4 address: \"localhost\"");
    text = "[[upstreams]]\nname = \"app\"\naddresses = [\"127.0.0.1:0\"]\n" + listener();
    EXPECT_EQ(error_of(text),
              "upstreams[0].addresses[0] (t.toml:3:14): an upstream port must not be 0");
    text = "[[upstreams]]\nname = \"app\"\naddresses = []\n" + listener();
    EXPECT_EQ(error_of(text),
              "upstreams[0].addresses (t.toml:1:1): an upstream needs at least one address");
    text = "[[upstreams]]\nname = \"app\"\naddresses = [\"::1:80\"]\n" + listener();
    EXPECT_EQ(error_of(text),
              "upstreams[0].addresses[0] (t.toml:3:14): IPv6 addresses need "
              "brackets: \"[::1]:80\"");
}

TEST(ConfigErrors, DuplicateListeners) {
    std::string text = std::string(upstream_section) + listener("a", "127.0.0.1:8443") +
                       listener("a", "127.0.0.1:8444");
    EXPECT_EQ(error_of(text), "listeners[1].name (t.toml:" + pos_of(text, "[[listeners]]", 2) +
                                  "): duplicate listener name \"a\" (also listeners[0] (t.toml:" +
                                  pos_of(text, "[[listeners]]", 1) + "))");
    text = std::string(upstream_section) + listener("a", "127.0.0.1:8443") +
           listener("b", "127.0.0.1:8443");
    EXPECT_EQ(error_of(text), "listeners[1].address (t.toml:" + pos_of(text, "[[listeners]]", 2) +
                                  "): duplicate listener address 127.0.0.1:8443 overlaps "
                                  "127.0.0.1:8443 of listener \"a\" (listeners[0] (t.toml:" +
                                  pos_of(text, "[[listeners]]", 1) + "))");
    text = std::string(upstream_section) + listener("a", "[::1]:8443") + listener("b", "[::]:8443");
    EXPECT_NE(error_of(text).find("duplicate listener address [::]:8443 overlaps [::1]:8443"),
              std::string::npos)
        << error_of(text);
    text = std::string(upstream_section) + listener("a", "0.0.0.0:443") +
           listener("b", "10.1.2.3:443");
    EXPECT_NE(error_of(text).find("duplicate listener address 10.1.2.3:443 overlaps 0.0.0.0:443"),
              std::string::npos)
        << error_of(text);
}

TEST(ConfigErrors, UpstreamReferences) {
    std::string text = std::string(upstream_section) +
                       "\n[[listeners]]\nname = \"l0\"\naddress = \"127.0.0.1:0\"\n"
                       "upstream = \"nope\"\n[listeners.tls]\n[[listeners.tls.certificates]]\n"
                       "cert = \"server-ecdsa.chain.pem\"\nkey = \"server-ecdsa.key\"\n";
    EXPECT_EQ(error_of(text), "listeners[0].upstream (t.toml:" + pos_of(text, "[[listeners]]") +
                                  "): unknown upstream \"nope\" (defined: app)");
    text = std::string(upstream_section) + std::string(upstream_section) + listener();
    EXPECT_EQ(error_of(text), "upstreams[1].name (t.toml:" + pos_of(text, "[[upstreams]]", 2) +
                                  "): duplicate upstream name \"app\" (also upstreams[0] "
                                  "(t.toml:" +
                                  pos_of(text, "[[upstreams]]", 1) + "))");
    text = "[[upstreams]]\nname = \"a b\"\naddresses = [\"127.0.0.1:1\"]\n" + listener();
    EXPECT_EQ(error_of(text),
              "upstreams[0].name (t.toml:2:8): names use letters, digits, '_', "
              "'.' and '-' (at most 64), got \"a b\"");
}

TEST(ConfigErrors, MissingRequiredParts) {
    EXPECT_EQ(error_of(std::string(upstream_section)),
              "listeners (t.toml): no [[listeners]] defined; nothing would be served");
    std::string text = std::string(upstream_section) +
                       "\n[[listeners]]\nname = \"l0\"\nupstream = \"app\"\n[listeners.tls]\n";
    EXPECT_EQ(error_of(text), "listeners[0].address (t.toml:" + pos_of(text, "[[listeners]]") +
                                  "): missing required key");
    text = std::string(upstream_section) +
           "\n[[listeners]]\nname = \"l0\"\naddress = \"127.0.0.1:0\"\nupstream = \"app\"\n";
    EXPECT_EQ(error_of(text), "listeners[0].tls (t.toml:" + pos_of(text, "[[listeners]]") +
                                  "): missing required table [listeners[0].tls]");
    text = std::string(upstream_section) +
           "\n[[listeners]]\nname = \"l0\"\naddress = \"127.0.0.1:0\"\nupstream = \"app\"\n"
           "[listeners.tls]\nalpn = []\n";
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.certificates (t.toml:" + pos_of(text, "[listeners.tls]") +
                  "): a listener needs at least one "
                  "[[listeners[0].tls.certificates]] entry");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "", "",
                    "[[listeners.tls.certificates]]\ncert = \"server-ecdsa.chain.pem\"\n");
    EXPECT_EQ(error_of(text), "listeners[0].tls.certificates[0].key (t.toml:" +
                                  pos_of(text, "[[listeners.tls.certificates]]") +
                                  "): missing required key");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "", "",
                    "[[listeners.tls.certificates]]\ncert = \"\"\nkey = \"k\"\n");
    EXPECT_EQ(error_of(text), "listeners[0].tls.certificates[0].cert (t.toml:" +
                                  pos_of(text, "\"\"") + "): must not be empty");
}

TEST(ConfigErrors, MissingAndUnreadableFiles) {
    std::string tls =
        "client_auth = \"require\"\nca_files = [\"root-ca.pem\"]\n"
        "crl_files = [\"root-ca.crl.pem\", \"ca.crl\"]\n";
    std::string text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", tls);
    EXPECT_EQ(error_of(text), "listeners[0].tls.crl_files[1] (t.toml:" +
                                  pos_of(text, "\"ca.crl\"") + "): no such file: " + abs("ca.crl"));

    text =
        std::string(upstream_section) +
        listener("l0", "127.0.0.1:0", "client_auth = \"optional\"\nca_files = [\"missing.pem\"]");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.ca_files[0] (t.toml:" + pos_of(text, "\"missing.pem\"") +
                  "): no such file: " + abs("missing.pem"));

    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "", "",
                    "[[listeners.tls.certificates]]\ncert = \"server-ecdsa.chain.pem\"\n"
                    "key = \"nokey.key\"\n");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.certificates[0].key (t.toml:" + pos_of(text, "\"nokey.key\"") +
                  "): no such file: " + abs("nokey.key"));

    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "", "",
                    "[[listeners.tls.certificates]]\ncert = \".\"\nkey = \"server-ecdsa.key\"\n");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.certificates[0].cert (t.toml:" + pos_of(text, "\".\"") +
                  "): is a directory, not a file: " + test::pki_dir().string() + "/");
}

TEST(ConfigErrors, KeyDoesNotMatchCertificate) {
    std::string text = std::string(upstream_section) +
                       listener("l0", "127.0.0.1:0", "", "",
                                "[[listeners.tls.certificates]]\n"
                                "cert = \"server-ecdsa.chain.pem\"\nkey = \"server-other.key\"\n");
    EXPECT_EQ(error_of(text), "listeners[0].tls.certificates[0].key (t.toml:" +
                                  pos_of(text, "\"server-other.key\"") +
                                  "): " + abs("server-other.key") +
                                  ": private key does not match the certificate (/O=tlsterm "
                                  "test/CN=tlsterm.test)");
}

TEST(ConfigErrors, KeyFileWithoutKeyIsReportedAtTheKey) {
    std::string text = std::string(upstream_section) +
                       listener("l0", "127.0.0.1:0", "", "",
                                "[[listeners.tls.certificates]]\n"
                                "cert = \"server-ecdsa.chain.pem\"\nkey = \"server-ecdsa.pem\"\n");
    EXPECT_EQ(
        error_of(text),
        "listeners[0].tls.certificates[0].key (t.toml:" + pos_of(text, "\"server-ecdsa.pem\"") +
            "): " + abs("server-ecdsa.pem") + ": no PRIVATE KEY block in the key file");
}

TEST(ConfigErrors, WrongFileContents) {
    std::string text = std::string(upstream_section) +
                       listener("l0", "127.0.0.1:0", "", "",
                                "[[listeners.tls.certificates]]\n"
                                "cert = \"root-ca.crl.pem\"\nkey = \"server-ecdsa.key\"\n");
    EXPECT_EQ(error_of(text), "listeners[0].tls.certificates[0].cert (t.toml:" +
                                  pos_of(text, "\"root-ca.crl.pem\"") +
                                  "): " + abs("root-ca.crl.pem") +
                                  ": certificate chain: PEM block 1 is \"X509 CRL\", expected "
                                  "CERTIFICATE");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0",
                    "client_auth = \"require\"\nca_files = [\"client-valid.pem\"]");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.ca_files[0] (t.toml:" + pos_of(text, "\"client-valid.pem\"") +
                  "): " + abs("client-valid.pem") +
                  ": certificate 1 (/O=tlsterm test/CN=client-valid) is not a CA "
                  "(basicConstraints CA:TRUE missing)");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0",
                    "client_auth = \"require\"\nca_files = [\"root-ca.pem\"]\n"
                    "crl_files = [\"root-ca.pem\"]");
    EXPECT_EQ(error_of(text), "listeners[0].tls.crl_files[0] (t.toml:" +
                                  pos_of(text, "\"root-ca.pem\"", 2) + "): " + abs("root-ca.pem") +
                                  ": not a valid CRL: PEM block 1 is \"CERTIFICATE\", expected "
                                  "X509 CRL");
}

TEST(ConfigErrors, CrlFromUnconfiguredCa) {
    std::string text = std::string(upstream_section) +
                       listener("l0", "127.0.0.1:0",
                                "client_auth = \"require\"\nca_files = [\"root-ca.pem\"]\n"
                                "crl_files = [\"unknown-ca.crl.pem\"]");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.crl_files[0] (t.toml:" + pos_of(text, "\"unknown-ca.crl.pem\"") +
                  "): " + abs("unknown-ca.crl.pem") +
                  ": issued by /O=tlsterm test/CN=tlsterm Untrusted CA, which is "
                  "not a CA in ca_files");
}

TEST(ConfigErrors, CrlWithBadSignature) {
    // Flip one octet inside the signed part of a real CRL.
    auto dir = test::make_temp_dir("config");
    std::string der = test::read_text(test::pki("intermediate-ca.crl.der"));
    auto at = der.find("tlsterm Test Intermediate CA");
    ASSERT_NE(at, std::string::npos);
    der[at] = 'X';
    test::write_file(dir / "tampered.crl", der);
    std::string text = std::string(upstream_section) +
                       listener("l0", "127.0.0.1:0",
                                "client_auth = \"require\"\nca_files = [\"ca-bundle.pem\"]\n"
                                "crl_files = [\"" +
                                    (dir / "tampered.crl").string() + "\"]");
    // The issuer name changed too: no CA of that name.
    EXPECT_NE(error_of(text).find("which is not a CA in ca_files"), std::string::npos)
        << error_of(text);
    // Tamper with a revoked serial instead: the name matches, the signature fails.
    der = test::read_text(test::pki("intermediate-ca.crl.der"));
    auto serial = der.find(std::string("\x02\x09\x10", 3));
    ASSERT_NE(serial, std::string::npos);
    der[serial + 5] = static_cast<char>(der[serial + 5] ^ 0x01);
    test::write_file(dir / "tampered.crl", der);
    EXPECT_EQ(error_of(text), "listeners[0].tls.crl_files[0] (t.toml:" +
                                  pos_of(text, "\"" + (dir / "tampered.crl").string()) +
                                  "): " + (dir / "tampered.crl").string() +
                                  ": ecdsa-with-SHA256 signature does not verify with the key of "
                                  "CA /O=tlsterm test/CN=tlsterm Test Intermediate CA");
}

TEST(ConfigLoad, CrlsOfEcdsaAndRsaCasVerify) {
    std::string text = std::string(upstream_section) +
                       listener("l0", "127.0.0.1:0",
                                "client_auth = \"optional\"\n"
                                "ca_files = [\"ca-bundle.pem\", \"rsa-ca.pem\"]\n"
                                "crl_files = [\"root-ca.crl.pem\", \"intermediate-ca.crl.der\", "
                                "\"root-ca-delta.crl.der\", \"rsa-ca.crl.pem\", "
                                "\"large.crl.der\"]");
    EXPECT_EQ(error_of(text), "(loaded without error)");
}

TEST(ConfigErrors, TruncatedCrl) {
    auto dir = test::make_temp_dir("config");
    std::string der = test::read_text(test::pki("large.crl.der"));
    test::write_file(dir / "cut.crl", der.substr(0, der.size() - 10));
    std::string text = std::string(upstream_section) +
                       listener("l0", "127.0.0.1:0",
                                "client_auth = \"require\"\nca_files = [\"" + abs("root-ca.pem") +
                                    "\"]\ncrl_files = [\"" + (dir / "cut.crl").string() + "\"]");
    EXPECT_EQ(error_of(text), "listeners[0].tls.crl_files[0] (t.toml:" +
                                  pos_of(text, "\"" + (dir / "cut.crl").string()) +
                                  "): " + (dir / "cut.crl").string() +
                                  ": not a valid CRL: DER CRL: not a DER CertificateList "
                                  "(expected a SEQUENCE)");
}

TEST(ConfigErrors, ClientAuthNeedsCaAndCaNeedsClientAuth) {
    std::string text =
        std::string(upstream_section) + listener("l0", "127.0.0.1:0", "client_auth = \"require\"");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.client_auth (t.toml:" + pos_of(text, "\"require\"") +
                  "): client_auth = \"require\" needs ca_files to verify client "
                  "certificates against");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "ca_files = [\"root-ca.pem\"]");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.ca_files[0] (t.toml:" + pos_of(text, "\"root-ca.pem\"") +
                  "): ca_files has no effect with client_auth = \"none\"; set "
                  "client_auth to \"optional\" or \"require\"");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "crl_files = [\"root-ca.crl.pem\"]");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.crl_files[0] (t.toml:" + pos_of(text, "\"root-ca.crl.pem\"") +
                  "): crl_files has no effect with client_auth = \"none\"; set "
                  "client_auth to \"optional\" or \"require\"");
}

TEST(ConfigErrors, CertificateNames) {
    std::string certs =
        "[[listeners.tls.certificates]]\ncert = \"server-ecdsa.chain.pem\"\n"
        "key = \"server-ecdsa.key\"\nnames = [\"*.com\"]\n";
    std::string text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "", "", certs);
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.certificates[0].names[0] (t.toml:" + pos_of(text, "\"*.com\"") +
                  "): not a host name or \"*.domain\" wildcard: \"*.com\"");
    for (std::string bad : {"a..b", "-a.b", "a_b.c", "a.b.", "*a.b.c", "a.*.c"}) {
        certs =
            "[[listeners.tls.certificates]]\ncert = \"server-ecdsa.chain.pem\"\n"
            "key = \"server-ecdsa.key\"\nnames = [\"" +
            bad + "\"]\n";
        text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "", "", certs);
        EXPECT_NE(error_of(text).find("not a host name"), std::string::npos) << bad;
    }
}

TEST(ConfigErrors, CertificateWithoutUsableSuite) {
    std::string tls = "max_version = \"1.2\"\nciphers_tls12 = [\"ECDHE-RSA-AES128-GCM-SHA256\"]\n";
    std::string text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", tls);
    EXPECT_EQ(error_of(text), "listeners[0].tls.certificates[0].cert (t.toml:" +
                                  pos_of(text, "\"server-ecdsa.chain.pem\"") +
                                  "): " + abs("server-ecdsa.chain.pem") +
                                  ": no suite in ciphers_tls12 works with this ECDSA certificate, "
                                  "and TLS 1.3 is off");
    // With TLS 1.3 on, the TLS 1.3 suites serve it.
    tls = "ciphers_tls12 = [\"ECDHE-RSA-AES128-GCM-SHA256\"]\n";
    EXPECT_EQ(error_of(std::string(upstream_section) + listener("l0", "127.0.0.1:0", tls)),
              "(loaded without error)");
}

TEST(ConfigErrors, DuplicateCertificateForName) {
    std::string certs = R"(
[[listeners.tls.certificates]]
cert = "server-ecdsa.chain.pem"
key = "server-ecdsa.key"
[[listeners.tls.certificates]]
cert = "server-other.chain.pem"
key = "server-other.key"
names = ["api.tlsterm.test"]
)";
    std::string text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", "", "", certs);
    EXPECT_EQ(error_of(text), "listeners[0].tls.certificates[1].cert (t.toml:" +
                                  pos_of(text, "\"server-other.chain.pem\"") +
                                  "): a second ECDSA certificate for \"api.tlsterm.test\" (the "
                                  "first is certificates[0])");
}

// ---- client authentication ------------------------------------------------

const std::string require_root = "client_auth = \"require\"\nca_files = [\"root-ca.pem\"]\n";

TEST(ConfigClientAuth, SniTablesInheritAndOverride) {
    std::string sni = R"(
[[listeners.tls.sni]]
names = ["API.tlsterm.test", "*.wild.tlsterm.test", ""]
client_auth = "optional"
require_x509v3 = false
verify_depth = 2
allow_sans = ["spiffe://tlsterm.test/*"]
[[listeners.tls.sni]]
names = ["other.test"]
ca_files = [{ file = "ca-bundle.pem", crl_policy = "leaf-only", crl_stale = "grace", crl_grace_s = 600 }]
)";
    auto c = load(std::string(upstream_section) +
                  listener("l0", "127.0.0.1:0",
                           require_root +
                               "crl_files = [\"root-ca.crl.pem\", \"intermediate-ca.crl.der\"]\n"
                               "crl_stale = \"warn\"\nrequire_x509v3 = true\n",
                           "", "") +
                  sni);
    ASSERT_TRUE(c) << c.error().to_string();
    const auto& t = (*c)->listeners[0].tls;
    EXPECT_EQ(t.client_auth.mode, client_auth_mode::require);
    ASSERT_EQ(t.client_auth.ca_files.size(), 1u);
    EXPECT_EQ(t.client_auth.ca_files[0].crl, crl_policy::required);  // CRLs exist: required
    EXPECT_EQ(t.client_auth.ca_files[0].stale, stale_crl_policy::warn);
    ASSERT_EQ(t.sni.size(), 2u);
    EXPECT_EQ(t.sni[0].names,
              (std::vector<std::string>{"api.tlsterm.test", "*.wild.tlsterm.test", ""}));
    EXPECT_EQ(t.sni[0].auth.mode, client_auth_mode::optional);
    EXPECT_EQ(t.sni[0].auth.verify_depth, 2u);
    EXPECT_EQ(t.sni[0].auth.ca_files.size(), 1u);  // inherited
    EXPECT_EQ(t.sni[0].auth.allow_sans, (std::vector<std::string>{"spiffe://tlsterm.test/*"}));
    EXPECT_EQ(t.sni[1].auth.mode, client_auth_mode::require);  // inherited
    EXPECT_TRUE(t.client_auth.require_x509v3);
    EXPECT_TRUE(t.sni[1].auth.require_x509v3);  // inherited
    EXPECT_FALSE(t.sni[0].auth.require_x509v3);
    ASSERT_EQ(t.sni[1].auth.ca_files.size(), 1u);
    EXPECT_EQ(t.sni[1].auth.ca_files[0].crl, crl_policy::leaf_only);
    EXPECT_EQ(t.sni[1].auth.ca_files[0].stale, stale_crl_policy::grace);
    EXPECT_EQ(t.sni[1].auth.ca_files[0].grace_s, 600u);
}

TEST(ConfigClientAuth, NoCrlSourceMeansOptionalPolicy) {
    auto c = load(std::string(upstream_section) + listener("l0", "127.0.0.1:0", require_root));
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ((*c)->listeners[0].tls.client_auth.ca_files[0].crl, crl_policy::optional);
}

TEST(ConfigClientAuth, Errors) {
    auto text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", require_root) +
                "[[listeners.tls.sni]]\nnames = [\"bad name\"]\n";
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.sni[0].names[0] (t.toml:" + pos_of(text, "\"bad name\"") +
                  "): not a host name, \"*.domain\" wildcard or \"\": \"bad name\"");
    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", require_root) +
           "[[listeners.tls.sni]]\nnames = [\"a.test\"]\n[[listeners.tls.sni]]\nnames = "
           "[\"A.test\"]\n";
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.sni[1].names[0] (t.toml:" + pos_of(text, "\"A.test\"") +
                  "): \"a.test\" is already named by another sni table");
    text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", require_root) +
           "[[listeners.tls.sni]]\nclient_auth = \"none\"\n";
    EXPECT_NE(error_of(text).find("listeners[0].tls.sni[0].names (t.toml:"), std::string::npos)
        << error_of(text);
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0",
                    require_root + "crl_files = [\"root-ca.crl.pem\"]\ncrl_stale = \"grace\"\n");
    EXPECT_EQ(error_of(text), "listeners[0].tls.crl_stale (t.toml:" + pos_of(text, "\"grace\"") +
                                  "): crl_stale = \"grace\" needs crl_grace_s > 0 (seconds a CRL "
                                  "past its nextUpdate is still accepted)");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0",
                    require_root + "crl_urls = [\"https://ca.example/root.crl\"]\n");
    EXPECT_EQ(error_of(text), "listeners[0].tls.crl_urls[0] (t.toml:" +
                                  pos_of(text, "\"https://ca.example/root.crl\"") +
                                  "): a CRL URL must be http:// (CRLs are signed; RFC 5280 "
                                  "distributes them over plain HTTP), got "
                                  "\"https://ca.example/root.crl\"");
    text =
        std::string(upstream_section) +
        listener(
            "l0", "127.0.0.1:0",
            "client_auth = \"require\"\nca_files = [{ file = \"root-ca.pem\", crl_polcy = 1 }]\n");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.ca_files[0].crl_polcy (t.toml:" + pos_of(text, "crl_polcy") +
                  "): unknown key (did you mean \"crl_policy\"?)");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", require_root + "crl_policy = \"sometimes\"\n");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.crl_policy (t.toml:" + pos_of(text, "\"sometimes\"") +
                  "): expected one of \"required\", \"optional\", \"leaf-only\", "
                  "got \"sometimes\"");
    text = std::string(upstream_section) + listener() + "[crl]\ncheck_interval_s = -1\n";
    EXPECT_EQ(error_of(text), "crl.check_interval_s (t.toml:" + pos_of(text, "-1") +
                                  "): must be between 0 and 86400, got -1");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "crl_urls = [\"http://127.0.0.1/x.crl\"]\n");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.crl_urls[0] (t.toml:" + pos_of(text, "\"http://127.0.0.1/x.crl\"") +
                  "): crl_urls has no effect with client_auth = \"none\"; set "
                  "client_auth to \"optional\" or \"require\"");
}

TEST(ConfigClientAuth, ProxyProtocolOnUpstream) {
    std::string text = minimal();
    text.replace(text.find("name = \"app\"\n"), 13, "name = \"app\"\nproxy_protocol = \"v2\"\n");
    auto c = load(text);
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_TRUE((*c)->upstreams[0].proxy_v2);
}

// ---- HTTP mode, routes, upstream TLS and pools --------------------------------

std::string http_config(const std::string& upstream_extra, const std::string& listener_extra = "") {
    return "[[upstreams]]\nname = \"app\"\naddresses = [\"127.0.0.1:9000\"]\n" + upstream_extra +
           "\n[[upstreams]]\nname = \"api\"\naddresses = [\"127.0.0.1:9001\"]\n" +
           listener("l0", "127.0.0.1:0", "", "mode = \"http\"\n" + listener_extra);
}

TEST(ConfigHttp, FullSettings) {
    std::string text = http_config(
        "[upstreams.tls]\nmode = \"mtls\"\nca_file = \"root-ca.pem\"\nserver_name = "
        "\"Origin.Example\"\ncert = \"client-valid.pem\"\nkey = \"client-valid.key\"\n"
        "min_version = \"1.3\"\nsession_resumption = false\n"
        "pinned_spki = [\"sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"]\n"
        "crl_file = \"root-ca.crl.pem\"\n"
        "[upstreams.pool]\nmin_idle = 2\nmax_connections = 8\nidle_timeout_ms = 5000\n"
        "max_requests = 100\nqueue_size = 10\nqueue_timeout_ms = 250\nresponse_timeout_ms = 900\n"
        "down_backoff_ms = 50\nclient_share_percent = 100\n",
        "[listeners.http]\nx_forwarded_for = false\nclient_identity = \"xfcc\"\n"
        "sni_host_binding = false\nmax_head_bytes = 4096\nmax_headers = 20\n"
        "[[listeners.routes]]\nserver_names = [\"API.example.com\"]\nhosts = [\"*.example.com\"]\n"
        "path_prefix = \"/v1/\"\nupstream = \"api\"\n");
    auto c = load(text);
    ASSERT_TRUE(c) << c.error().to_string();
    const auto& u = (*c)->upstreams[0];
    EXPECT_EQ(u.tls.mode, upstream_tls_mode::mtls);
    EXPECT_EQ(u.tls.server_name, "origin.example");
    EXPECT_EQ(u.tls.verify_name, "origin.example");  // defaults to server_name
    EXPECT_EQ(u.tls.ca_file->path, abs("root-ca.pem"));
    EXPECT_EQ(u.tls.min_version, tls_version::tls1_3);
    EXPECT_FALSE(u.tls.session_resumption);
    ASSERT_EQ(u.tls.pinned_spki.size(), 1u);
    EXPECT_EQ(u.tls.pinned_spki[0][0], 0xe3);  // SHA-256 of nothing starts e3b0
    EXPECT_EQ(u.pool.min_idle, 2u);
    EXPECT_EQ(u.pool.max_connections, 8u);
    EXPECT_EQ(u.pool.response_timeout_ms, 900u);
    EXPECT_EQ(u.pool.client_share_percent, 100u);
    const auto& l = (*c)->listeners[0];
    EXPECT_EQ(l.mode, listener_mode::http);
    EXPECT_FALSE(l.http.x_forwarded_for);
    EXPECT_TRUE(l.http.x_forwarded_proto);
    EXPECT_EQ(l.http.client_identity, identity_format::xfcc);
    EXPECT_FALSE(l.http.sni_host_binding);
    ASSERT_EQ(l.routes.size(), 1u);
    EXPECT_EQ(l.routes[0].server_names[0], "api.example.com");
    EXPECT_EQ(l.routes[0].hosts[0], "*.example.com");
    EXPECT_EQ(l.routes[0].path_prefix, "/v1/");
    EXPECT_EQ(l.routes[0].upstream, "api");
}

TEST(ConfigHttp, Defaults) {
    auto c = load(http_config(""));
    ASSERT_TRUE(c) << c.error().to_string();
    const auto& u = (*c)->upstreams[0];
    EXPECT_EQ(u.tls.mode, upstream_tls_mode::none);
    EXPECT_EQ(u.pool.max_connections, 256u);
    EXPECT_EQ(u.pool.queue_timeout_ms, 5000u);
    EXPECT_EQ(u.pool.client_share_percent, 50u);
    const auto& l = (*c)->listeners[0];
    EXPECT_TRUE(l.http.x_forwarded_for);
    EXPECT_TRUE(l.http.sni_host_binding);
    EXPECT_EQ(l.http.client_identity, identity_format::none);
    EXPECT_EQ((*load(minimal()))->listeners[0].mode, listener_mode::tcp);
}

TEST(ConfigHttp, Errors) {
    struct error_case {
        std::string upstream;
        std::string listener;
        std::string needle;  // where the error points (first occurrence)
        std::string message;
    };
    const std::vector<error_case> cases = {
        {"[upstreams.tls]\nmode = \"mtls\"\nserver_name = \"o\"\ncert = \"client-valid.pem\"\n", "",
         "[upstreams.tls]",
         "upstreams[0].tls.key (t.toml:4:1): mode = \"mtls\" needs cert and key"},
        {"[upstreams.tls]\nmode = \"tls\"\nserver_name = \"o\"\ncert = \"client-valid.pem\"\n"
         "key = \"client-valid.key\"\n",
         "", "[upstreams.tls]",
         "upstreams[0].tls.cert (t.toml:4:1): a client certificate is only sent with mode = "
         "\"mtls\""},
        {"[upstreams.tls]\nmode = \"tls\"\n", "", "[upstreams.tls]",
         "upstreams[0].tls.verify_name (t.toml:4:1): hostname verification needs a name: set "
         "server_name or verify_name (or verify_hostname = false, which accepts any certificate "
         "the CA issued)"},
        {"[upstreams.tls]\nserver_name = \"o\"\n", "", "[upstreams.tls]",
         "upstreams[0].tls.mode (t.toml:4:1): TLS settings given but mode = \"none\"; set mode = "
         "\"tls\" or \"mtls\""},
        {"[upstreams.tls]\nmode = \"tls\"\nserver_name = \"o\"\npinned_spki = [\"md5//AAAA\"]\n",
         "", "\"md5//",
         "a pin is \"sha256//\" and the base64 SHA-256 of the certificate's SubjectPublicKeyInfo, "
         "got \"md5//AAAA\""},
        {"[upstreams.tls]\nmode = \"tls\"\nserver_name = \"o\"\nca_file = \"server-ecdsa.key\"\n",
         "", "\"server-ecdsa.key\"", "server-ecdsa.key: "},
        {"[upstreams.tls]\nmode = \"mtls\"\nserver_name = \"o\"\ncert = \"client-valid.pem\"\n"
         "key = \"client-revoked.key\"\n",
         "", "\"client-revoked.key\"", "private key does not match the certificate"},
        {"[upstreams.pool]\nclient_share_percent = 0\n", "", "0",
         "upstreams[0].pool.client_share_percent (t.toml:5:24): must be between 1 and 100, got 0"},
        {"[upstreams.pool]\nmin_idle = 9\nmax_connections = 8\n", "", "[upstreams.pool]",
         "upstreams[0].pool.min_idle (t.toml:4:1): min_idle (9) exceeds max_connections (8)"},
        {"", "[[listeners.routes]]\nupstream = \"nowhere\"\n", "[[listeners.routes]]",
         "unknown upstream \"nowhere\" (defined: app, api)"},
        {"", "[[listeners.routes]]\npath_prefix = \"v1\"\nupstream = \"api\"\n",
         "[[listeners.routes]]", "a path prefix starts with '/', got \"v1\""},
        {"", "[[listeners.routes]]\nhosts = [\"bad host\"]\nupstream = \"api\"\n", "\"bad host\"",
         "not a host name or \"*.domain\" wildcard: \"bad host\""},
        {"proxy_protocol = \"v2\"\n", "", "[[listeners]]",
         "sends a PROXY v2 header, which describes one client connection; pooled HTTP upstream "
         "connections carry many"},
    };
    for (const auto& c : cases) {
        std::string text = http_config(c.upstream, c.listener);
        std::string e = error_of(text);
        EXPECT_TRUE(e.find(c.message) != std::string::npos) << c.message << "\n  got: " << e;
        (void)pos_of(text, c.needle);
    }
    std::string h2 =
        "[[upstreams]]\nname = \"app\"\naddresses = [\"127.0.0.1:9000\"]\n" +
        listener("l0", "127.0.0.1:0", "alpn = [\"h2\", \"http/1.1\"]\n", "mode = \"http\"\n");
    EXPECT_EQ(error_of(h2), "listeners[0].tls.alpn[0] (t.toml:" + pos_of(h2, "\"h2\"") +
                                "): mode = \"http\" speaks HTTP/1.1: a client that negotiated "
                                "\"h2\" would have every request refused");
    // A tcp listener cannot use a TLS upstream, nor carry HTTP tables.
    std::string tcp =
        "[[upstreams]]\nname = \"app\"\naddresses = [\"127.0.0.1:9000\"]\n"
        "[upstreams.tls]\nmode = \"tls\"\nserver_name = \"o\"\n" +
        listener();
    EXPECT_TRUE(error_of(tcp).find("a listener with mode = \"tcp\" pipes bytes unchanged") !=
                std::string::npos)
        << error_of(tcp);
    std::string tables =
        std::string(upstream_section) + listener("l0", "127.0.0.1:0", "", "[listeners.http]\n");
    EXPECT_TRUE(error_of(tables).find("[listeners[0].http] needs mode = \"http\"") !=
                std::string::npos)
        << error_of(tables);
}

TEST(ConfigHttp, EncryptedUpstreamKeyNeedsItsPassword) {
    auto dir = test::make_temp_dir("cfgkey");
    // (the key file is made by openssl in the integration tests; here the
    // password file alone is checked)
    std::string text = http_config(
        "[upstreams.tls]\nmode = \"mtls\"\nserver_name = \"o\"\ncert = \"client-valid.pem\"\n"
        "key = \"client-valid.key\"\nkey_password_file = \"" +
        (dir / "missing").string() + "\"\n");
    EXPECT_TRUE(error_of(text).find("no such file") != std::string::npos) << error_of(text);
}

}  // namespace
}  // namespace tlsterm

namespace tlsterm {
namespace {

TEST(ConfigKernelTls, AutoByDefaultOnOffAndNothingElse) {
    auto c = load(minimal());
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ((*c)->listeners[0].tls.ktls, ktls_mode::automatic);
    for (auto [text, mode] : {std::pair{"on", ktls_mode::on}, std::pair{"off", ktls_mode::off},
                              std::pair{"auto", ktls_mode::automatic}}) {
        auto with = load(std::string(upstream_section) +
                         listener("l0", "127.0.0.1:0", "ktls = \"" + std::string(text) + "\"\n"));
        ASSERT_TRUE(with) << with.error().to_string();
        EXPECT_EQ((*with)->listeners[0].tls.ktls, mode);
        EXPECT_EQ(to_string(mode), text);
        // Where a refusal at build time points.
        EXPECT_EQ((*with)->listeners[0].tls.ktls_origin.key_path, "listeners[0].tls.ktls");
    }
    std::string text =
        std::string(upstream_section) + listener("l0", "127.0.0.1:0", "ktls = \"yes\"\n");
    EXPECT_EQ(error_of(text), "listeners[0].tls.ktls (t.toml:" + pos_of(text, "\"yes\"") +
                                  "): expected one of \"auto\", \"on\", \"off\", got \"yes\"");
}

// [upstreams.tls] ktls: the same three values; "on" only where there is
// TLS toward the upstream.
TEST(ConfigKernelTls, UpstreamAutoByDefaultOnlyWithTls) {
    const std::string tls = "[upstreams.tls]\nmode = \"tls\"\nserver_name = \"o\"\n";
    auto c = load(http_config(tls));
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ((*c)->upstreams[0].tls.ktls, ktls_mode::automatic);
    for (auto [text, mode] : {std::pair{"on", ktls_mode::on}, std::pair{"off", ktls_mode::off}}) {
        auto with = load(http_config(tls + "ktls = \"" + std::string(text) + "\"\n"));
        ASSERT_TRUE(with) << with.error().to_string();
        EXPECT_EQ((*with)->upstreams[0].tls.ktls, mode);
        EXPECT_EQ((*with)->upstreams[0].tls.ktls_origin.key_path, "upstreams[0].tls.ktls");
    }
    std::string bad = http_config(tls + "ktls = \"always\"\n");
    EXPECT_EQ(error_of(bad), "upstreams[0].tls.ktls (t.toml:" + pos_of(bad, "\"always\"") +
                                 "): expected one of \"auto\", \"on\", \"off\", got \"always\"");
    std::string plain = http_config("[upstreams.tls]\nktls = \"on\"\n");
    EXPECT_NE(error_of(plain).find("upstreams[0].tls.mode ("), std::string::npos)
        << error_of(plain);
    EXPECT_NE(error_of(plain).find("but mode = \"none\""), std::string::npos) << error_of(plain);
}

TEST(ConfigSplice, OnByDefaultInTcpModeAndNowhereElse) {
    auto c = load(minimal());
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_TRUE((*c)->listeners[0].splice);
    auto off = load(std::string(upstream_section) +
                    listener("l0", "127.0.0.1:0", "", "mode = \"tcp\"\nsplice = false\n"));
    ASSERT_TRUE(off) << off.error().to_string();
    EXPECT_FALSE((*off)->listeners[0].splice);
    std::string http = std::string(upstream_section) +
                       listener("l0", "127.0.0.1:0", "", "mode = \"http\"\nsplice = true\n");
    EXPECT_EQ(error_of(http), "listeners[0].splice (t.toml:" + pos_of(http, "true") +
                                  "): splice applies to mode = \"tcp\" listeners (HTTP mode "
                                  "reads every request)");
    std::string typo =
        std::string(upstream_section) + listener("l0", "127.0.0.1:0", "", "splice = \"yes\"\n");
    EXPECT_NE(error_of(typo).find("listeners[0].splice (t.toml:"), std::string::npos)
        << error_of(typo);
}

TEST(ConfigSessionTickets, DefaultsKeyFileAndRefusals) {
    auto c = load(minimal());
    ASSERT_TRUE(c) << c.error().to_string();
    const auto& t = (*c)->listeners[0].tls;
    EXPECT_TRUE(t.session_tickets);
    EXPECT_EQ(t.session_ticket_lifetime_s, 300u);
    EXPECT_EQ(t.session_tickets_per_handshake, 2u);
    EXPECT_FALSE(t.session_ticket_key_file);
    EXPECT_EQ(t.session_ticket_key_rotation_s, 3600u);
    EXPECT_EQ((*c)->limits.resumable_identities, 20000u);

    auto dir = test::make_temp_dir("ticket-keys");
    test::write_file(dir / "good.keys", std::string(80, '\x01'));
    test::write_file(dir / "short.keys", "QUJD\n");
    std::string good = "session_ticket_key_file = \"" + (dir / "good.keys").string() + "\"\n";
    auto with_file = load(std::string(upstream_section) + listener("l0", "127.0.0.1:0", good));
    ASSERT_TRUE(with_file) << with_file.error().to_string();
    // The watcher rebuilds when the key file changes.
    bool watched = false;
    for (const auto& f : (*with_file)->files) {
        watched = watched || f.file.path == dir / "good.keys";
    }
    EXPECT_TRUE(watched);

    std::string bad = "session_ticket_key_file = \"" + (dir / "short.keys").string() + "\"\n";
    std::string text = std::string(upstream_section) + listener("l0", "127.0.0.1:0", bad);
    EXPECT_EQ(error_of(text), "listeners[0].tls.session_ticket_key_file (t.toml:" +
                                  pos_of(text, "\"" + (dir / "short.keys").string()) +
                                  "): " + (dir / "short.keys").string() +
                                  ": line 1: a key of 3 bytes; keys are 80 bytes (16 name, 32 "
                                  "HMAC, 32 AES)");
    text =
        std::string(upstream_section) +
        listener("l0", "127.0.0.1:0", "session_tickets = false\nsession_ticket_lifetime_s = 60\n");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.session_ticket_lifetime_s (t.toml:" + pos_of(text, "60") +
                  "): session_ticket_lifetime_s has no effect with "
                  "session_tickets = false");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", good + "session_ticket_key_rotation_s = 600\n");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.session_ticket_key_rotation_s (t.toml:" + pos_of(text, "600") +
                  "): session_ticket_key_rotation_s has no effect with "
                  "session_ticket_key_file (rotate by rewriting the file: first "
                  "key seals, all keys open)");
    text = std::string(upstream_section) +
           listener("l0", "127.0.0.1:0", "session_ticket_lifetime_s = 700000\n");
    EXPECT_EQ(error_of(text),
              "listeners[0].tls.session_ticket_lifetime_s (t.toml:" + pos_of(text, "700000") +
                  "): must be between 1 and 604800, got 700000");
}

}  // namespace
}  // namespace tlsterm
