// tlsterm configuration: the validated, frozen form of one TOML file.
//
// Invariants of a `config` returned by load_config():
//  - every key of the file was known, of the right type and in range;
//  - every file it names exists, is readable and parses as what it claims to
//    be (certificate chain, private key matching it, CA bundle, CRL);
//  - listener names and addresses are unique, every listener's upstream exists;
//  - relative paths were resolved against the directory of the config file.
// A config is immutable once built; share it as std::shared_ptr<const config>.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tlsterm/address.h>
#include <tlsterm/log_level.h>
#include <tlsterm/tls_types.h>

namespace tlsterm {

// Where a value came from, for error messages long after loading (for
// example a CRL that fails to reload): "listeners[0].tls.crl_files[1]
// (tlsterm.toml:42:5)".
struct config_origin {
    std::string key_path;  // e.g. "listeners[0].tls.crl_files[1]"
    std::string file;      // config file as given to load_config
    uint32_t line = 0;     // 1-based; 0 when unknown
    uint32_t column = 0;   // 1-based; 0 when unknown

    std::string to_string() const;  // "key.path (file:line:column)"
};

// A file named by the config, resolved to an absolute path.
struct file_ref {
    std::filesystem::path path;
    config_origin origin;
};

// One error; to_string() is the single line printed by `tlsterm --check`.
struct config_error {
    config_origin origin;
    std::string message;

    std::string to_string() const;  // "key.path (file:line:column): message"
};

// One certificate chain and its private key. Served for `names` (exact or
// "*.suffix" wildcards); when the config gives none, the DNS names of the
// certificate's subjectAltName are used.
struct certificate_config {
    file_ref cert;  // PEM chain: leaf first, then intermediates
    file_ref key;   // PEM or DER private key matching the leaf
    std::vector<std::string> names;
    key_type type = key_type::ecdsa;  // read from the leaf's public key
};

// One entry of ca_files: a PEM bundle of CA certificates and the CRL policy
// for what they issue.
struct ca_file_config {
    file_ref file;
    crl_policy crl = crl_policy::required;
    stale_crl_policy stale = stale_crl_policy::reject;
    uint32_t grace_s = 0;
};

// How one listener, or one set of server names, verifies client certificates.
struct client_auth_config {
    client_auth_mode mode = client_auth_mode::none;
    std::vector<ca_file_config> ca_files;  // trust anchors and intermediates
    uint32_t verify_depth = 4;             // max intermediates between leaf and anchor
    // Refuse X.509 v1 (and v2) client certificates, which carry no
    // extensions; accepted (logged, counted) by default, as nginx does.
    bool require_x509v3 = false;
    // When non-empty, a client certificate must match one pattern of either
    // list: its subject ("/O=../CN=..") or one of its subjectAltNames (DNS,
    // email, URI). '*' matches any run of characters.
    std::vector<std::string> allow_subjects;
    std::vector<std::string> allow_sans;
    // For certificates whose issuer is not in ca_files (an intermediate the
    // client sends), and the default of ca_files entries.
    crl_policy crl = crl_policy::optional;
    stale_crl_policy stale = stale_crl_policy::reject;
    uint32_t grace_s = 0;
};

// client_auth_config for the server names of one [[listeners.tls.sni]]
// table: exact names, "*.suffix" wildcards, and "" for clients that send no
// server name.
struct sni_client_auth_config {
    std::vector<std::string> names;
    client_auth_config auth;
    config_origin origin;
};

// A CRL fetched over HTTP.
struct crl_url {
    std::string url;  // http://host[:port]/path
    config_origin origin;
};

// Whether a connection's TLS records go to the kernel (kTLS) after the
// handshake.
enum class ktls_mode : uint8_t {
    automatic,  // where the kernel can and it is known to win (tcp mode); else userspace
    on,         // always (a kernel without the "tls" module refuses the configuration)
    off,        // never: wolfSSL makes every record
};
std::string_view to_string(ktls_mode);

struct listener_tls_config {
    tls_version min_version = tls_version::tls1_2;
    tls_version max_version = tls_version::tls1_3;
    std::vector<std::string> ciphers_tls12;       // wolfSSL/OpenSSL names; empty = defaults
    std::vector<std::string> ciphersuites_tls13;  // IANA names; empty = defaults
    std::vector<tls_group> groups;
    std::vector<signature_scheme> signature_algorithms;  // empty = library defaults
    std::vector<std::string> alpn;                       // server preference order
    std::vector<certificate_config> certificates;        // [0] of each key type = default

    client_auth_config client_auth;           // for names without an override
    std::vector<sni_client_auth_config> sni;  // per-name overrides
    std::vector<file_ref> crl_files;          // CRLs (PEM or DER) for the CAs of ca_files
    std::vector<crl_url> crl_urls;
    // URLs from the cRLDistributionPoints of the configured CA certificates
    // are fetched too (each names where its issuer publishes its CRL).
    bool crl_distribution_points = false;

    // Session resumption: stateless tickets for TLS 1.2 and 1.3, sealed by
    // tlsterm with the policy and client identity they were issued under
    // (src/tls/ticket.h). No session cache.
    bool session_tickets = true;
    uint32_t session_ticket_lifetime_s = 300;         // advertised and enforced
    uint32_t session_tickets_per_handshake = 2;       // TLS 1.3 tickets after a full handshake
    std::optional<file_ref> session_ticket_key_file;  // 80-byte keys; none: generated
    uint32_t session_ticket_key_rotation_s = 3600;    // generated keys only

    ktls_mode ktls = ktls_mode::automatic;
    config_origin ktls_origin;  // the ktls key, or the table when it is not set
};

// What a listener does with the decrypted stream.
enum class listener_mode : uint8_t {
    tcp,   // a byte pipe to one upstream connection per client connection
    http,  // HTTP/1.1 requests routed to pooled upstream connections
};
std::string_view to_string(listener_mode);

// How an HTTP upstream learns the client certificate (see
// src/http/client_identity.h for the exact headers).
enum class identity_format : uint8_t { none, rfc9440, xfcc, fields };

// One [[listeners.routes]] entry: a request matching every given condition
// goes to `upstream`. Routes are tried in file order; the listener's own
// `upstream` is the default route.
struct route_config {
    std::vector<std::string> server_names;  // SNI: exact or "*.suffix"; empty = any
    std::vector<std::string> hosts;         // Host (port removed): exact or "*.suffix"; empty = any
    std::string path_prefix;                // empty = any
    std::string upstream;
    config_origin origin;
};

// [listeners.http]: the HTTP mode's request handling.
struct http_listener_config {
    bool x_forwarded_for = true;    // append the client address
    bool x_forwarded_proto = true;  // "https"
    bool x_forwarded_host = true;   // the Host the client sent
    identity_format client_identity = identity_format::none;
    // On listeners that verify client certificates, refuse (421) a request
    // whose Host is not the server name the handshake was checked under.
    bool sni_host_binding = true;
    uint32_t max_head_bytes = 64 * 1024;  // request head: start line and headers (431)
    uint32_t max_headers = 100;           // 431
    // Forward request header fields whose names contain '_' (nginx's
    // underscores_in_headers). Off: they are dropped, since CGI-style
    // origins read X_Foo and X-Foo as one variable. Underscore spellings of
    // the fields tlsterm sets itself are dropped either way.
    bool underscores_in_headers = false;
    // Request bodies with a Content-Length up to this are read whole before
    // an upstream connection is taken, so slow senders do not hold pooled
    // connections (capped by limits.max_buffered_bytes); 0 = always stream.
    uint32_t buffer_request_bytes = 64 * 1024;
    // Upgrade protocols passed to the origin (lower case); a request
    // asking for another one is forwarded as a plain request without its
    // Upgrade. "h2c" is refused by the config (not valid over TLS).
    std::vector<std::string> upgrade_protocols{"websocket"};
};

struct listener_config {
    std::string name;
    socket_address address;
    listener_mode mode = listener_mode::tcp;
    std::string upstream;  // name of an upstreams[] entry; the default route in HTTP mode
    // tcp mode, records in the kernel: bytes move socket -> pipe -> socket
    // (splice) instead of through tlsterm's memory.
    bool splice = true;
    listener_tls_config tls;
    http_listener_config http;
    std::vector<route_config> routes;  // HTTP mode only
    config_origin origin;              // the [[listeners]] table
};

enum class upstream_tls_mode : uint8_t { none, tls, mtls };
std::string_view to_string(upstream_tls_mode);

// TLS toward an upstream ([upstreams.tls]).
struct upstream_tls_config {
    upstream_tls_mode mode = upstream_tls_mode::none;
    std::optional<file_ref> ca_file;  // PEM bundle; none = the system store
    file_ref system_ca_file;          // the system store, when ca_file is none
    std::string server_name;          // sent as SNI; empty = none
    bool verify_hostname = true;      // the certificate must name verify_name
    std::string verify_name;          // defaults to server_name
    std::optional<file_ref> cert;     // client certificate chain (mtls)
    std::optional<file_ref> key;      // its key, PEM or DER, possibly encrypted
    std::optional<file_ref> key_password_file;
    tls_version min_version = tls_version::tls1_2;
    bool session_resumption = true;
    // SHA-256 of the SubjectPublicKeyInfo of the origin's certificate; when
    // non-empty, the leaf must match one (curl's --pinnedpubkey sha256//).
    std::vector<std::array<uint8_t, 32>> pinned_spki;
    std::optional<file_ref> crl_file;  // checked against the origin's chain
    // Where a pooled connection's records are made after its first
    // exchange (its tickets read): "auto" keeps them in userspace (HTTP
    // mode, as on a listener), "on" gives them to the kernel.
    ktls_mode ktls = ktls_mode::automatic;
    config_origin ktls_origin;  // the ktls key, or the table when it is not set
};

// Pooled upstream connections ([upstreams.pool]); one pool per shard.
struct pool_config {
    uint32_t min_idle = 0;                 // kept open and ready (pre-warmed)
    uint32_t max_connections = 256;        // open at once
    uint32_t idle_timeout_ms = 60000;      // an idle connection is closed after
    uint32_t max_requests = 10000;         // requests per connection
    uint32_t queue_size = 1024;            // requests waiting for a connection
    uint32_t queue_timeout_ms = 5000;      // then 503
    uint32_t response_timeout_ms = 60000;  // request sent to response head; then 504
    uint32_t down_backoff_ms = 1000;       // an address that failed is skipped, doubling to 30 s
    // One client address (IPv4 /32, IPv6 /64) holds at most this percent
    // of max_connections (rounded up) at once; its further requests wait
    // while others' are served. 100 = no share.
    uint32_t client_share_percent = 50;
};

struct upstream_config {
    std::string name;
    std::vector<socket_address> addresses;  // tried round robin
    uint32_t connect_timeout_ms = 2000;     // per attempt
    // Send a PROXY protocol v2 header first: client and listener addresses,
    // and TLVs for ALPN, server name, TLS version, cipher and the client
    // certificate (presented, verified, CN).
    bool proxy_v2 = false;
    upstream_tls_config tls;  // HTTP mode
    pool_config pool;         // HTTP mode
    config_origin origin;
};

struct runtime_config {
    uint32_t shards = 0;  // 0 = one per online CPU ("auto")
    bool pin_cpus = false;
    uint32_t drain_timeout_ms = 30000;  // grace period after SIGTERM/SIGINT
    log_level log = log_level::info;
    // The files the config names (and the config file) are checked this
    // often; a changed content hash rebuilds the configuration. 0 = only on
    // SIGHUP. CRL files follow crl.check_interval_s instead.
    uint32_t watch_interval_s = 5;
    // A unix socket path where this process hands its listening sockets to
    // a newer tlsterm started with the same setting (binary upgrade); empty
    // = no upgrades.
    std::filesystem::path upgrade_socket;
};

struct limits_config {
    uint32_t max_connections_per_shard = 16384;
    uint32_t handshake_timeout_ms = 10000;
    uint32_t idle_timeout_ms = 60000;
    // HTTP mode: a request head must be complete within this, counted from
    // its first byte; traffic does not extend it (slow-header clients).
    uint32_t header_timeout_ms = 30000;
    // HTTP mode: a request body tlsterm buffers (http.buffer_request_bytes)
    // must have arrived this long after its head; a body that streams must
    // bring at least body_min_rate bytes per second over each such period
    // (while tlsterm is not holding it back for a slow origin).
    uint32_t body_timeout_ms = 30000;
    uint32_t body_min_rate = 1024;  // bytes per second; 0 = no minimum
    // HTTP mode: after tlsterm's last response on a connection, what the
    // client still sends is read and dropped for up to this long (from
    // close_notify and FIN) before the socket closes; 0 = close at once.
    uint32_t lingering_close_ms = 5000;
    // Handshake admission (conn/admission.h), whole process; 0 = no limit.
    // Rates are off by default: a load test or a large NAT is one address.
    uint32_t max_connections_per_address = 4096;  // IPv4 /32, IPv6 /64
    uint32_t handshake_rate_per_address = 0;      // new connections per second
    uint32_t handshake_rate = 0;                  // new connections per second, all clients
    uint32_t handshake_rate_per_server_name = 0;  // ClientHellos per second per SNI
    uint32_t max_buffered_bytes = 256 * 1024;     // per connection and direction
    // Verified client certificates the process keeps for the session
    // tickets it issued (a ticket naming one no longer held: a full
    // handshake). About 3 KiB each.
    uint32_t resumable_identities = 20000;
};

// How CRLs are kept current ([crl] table).
struct crl_lifecycle_config {
    uint32_t check_interval_s = 30;      // files are re-read when changed; 0 = only on SIGHUP
    uint32_t refresh_interval_s = 3600;  // URLs are fetched at least this often
    uint32_t fetch_timeout_ms = 10000;   // one download, connect to last byte
    uint64_t max_bytes = 512ull << 20;   // largest CRL file or download
};

struct config {
    std::filesystem::path source;  // the file it was loaded from, absolute
    runtime_config runtime;
    limits_config limits;
    crl_lifecycle_config crl;
    std::vector<upstream_config> upstreams;
    std::vector<listener_config> listeners;
    // Every file the config names that a reload would read again (the
    // config file first), for the watcher; CRL files are marked.
    struct named_file {
        file_ref file;
        bool crl = false;
    };
    std::vector<named_file> files;

    const upstream_config* find_upstream(std::string_view name) const;
};

// Reads, validates and freezes a config file. Never throws.
std::expected<std::shared_ptr<const config>, config_error> load_config(
    const std::filesystem::path& file);

// Same, from TOML text; `display_name` appears in positions and relative paths
// resolve against `base_dir`.
std::expected<std::shared_ptr<const config>, config_error> load_config_from_string(
    std::string_view toml, std::string display_name, const std::filesystem::path& base_dir);

}  // namespace tlsterm
