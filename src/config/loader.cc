// The config schema: parse -> validate -> check files -> freeze.
//
// Limits below are the accepted ranges; docs/config.md lists the same ones
// and config/tlsterm.toml documents every key.
#include <sys/un.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include <tlsterm/config.h>

#include "common/file.h"
#include "common/pem.h"
#include "config/reader.h"
#include "crl/store.h"
#include "tls/ciphers.h"
#include "tls/client_auth.h"
#include "tls/credentials.h"
#include "tls/ticket_keys.h"
#include "x509/certificate.h"
#include "x509/name.h"

namespace tlsterm {

using config_detail::config_failure;
using config_detail::fail;
using config_detail::located_string;
using config_detail::parse_context;
using config_detail::table_reader;

namespace {

constexpr int64_t max_shards = 1024;
constexpr int64_t max_timeout_ms = 86'400'000;  // one day

bool valid_name(std::string_view s) {
    return !s.empty() && s.size() <= 64 &&
           s.find_first_not_of(
               "abcdefghijklmnopqrstuvwxyz"
               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == std::string_view::npos;
}

// A server name as SNI carries it (RFC 6066: a DNS host name, no trailing
// dot), or "*.suffix" with at least two labels in the suffix. Lower case.
bool valid_server_name(std::string_view s) {
    if (s.starts_with("*.")) {
        s.remove_prefix(2);
        if (s.find('.') == std::string_view::npos) {
            return false;  // "*.com" would match a whole TLD
        }
    }
    if (s.empty() || s.size() > 253) {
        return false;
    }
    std::size_t start = 0;
    while (start <= s.size()) {
        std::size_t end = s.find('.', start);
        std::string_view label = s.substr(start, end == std::string_view::npos ? end : end - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
            label.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") !=
                std::string_view::npos) {
            return false;
        }
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 1;
    }
    return true;
}

std::string lower(std::string s) {
    std::ranges::transform(s, s.begin(), [](unsigned char c) {
        return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    });
    return s;
}

file_ref resolve_file(const located_string& s, const parse_context& ctx) {
    std::filesystem::path p(s.value);
    if (p.is_relative()) {
        p = ctx.base_dir / p;
    }
    return file_ref{p.lexically_normal(), s.origin};
}

template <typename T>
T parse_enum(table_reader& t, std::string_view key, T fallback,
             std::initializer_list<std::pair<std::string_view, T>> choices) {
    const toml::node* n = t.node(key);
    if (n == nullptr) {
        return fallback;
    }
    std::string allowed;
    for (const auto& [name, value] : choices) {
        allowed += (allowed.empty() ? "\"" : ", \"") + std::string(name) + "\"";
    }
    if (!n->is_string()) {
        t.fail_at(
            key, *n,
            "expected one of " + allowed + ", got " + std::string(config_detail::type_name(*n)));
    }
    for (const auto& [name, value] : choices) {
        if (n->as_string()->get() == name) {
            return value;
        }
    }
    t.fail_at(key, *n, "expected one of " + allowed + ", got \"" + n->as_string()->get() + "\"");
}

socket_address parse_address(const located_string& s) {
    auto a = socket_address::parse(s.value);
    if (!a) {
        fail(s.origin, a.error());
    }
    return *a;
}

// The "name" key of an upstream or listener.
std::string required_name(table_reader& t) {
    auto name = t.required_string("name");
    if (!valid_name(name.value)) {
        fail(name.origin, "names use letters, digits, '_', '.' and '-' (at most 64), got \"" +
                              name.value + "\"");
    }
    return name.value;
}

// ---- sections ------------------------------------------------------------

runtime_config parse_runtime(table_reader& t, const parse_context& ctx) {
    runtime_config r;
    if (const toml::node* n = t.node("shards")) {
        if (n->is_string() && n->as_string()->get() == "auto") {
            r.shards = 0;
        } else if (n->is_integer()) {
            int64_t v = n->as_integer()->get();
            if (v < 1 || v > max_shards) {
                t.fail_at("shards", *n,
                          "must be \"auto\" or between 1 and " + std::to_string(max_shards) +
                              ", got " + std::to_string(v));
            }
            r.shards = static_cast<uint32_t>(v);
        } else {
            std::string got = n->is_string() ? "\"" + n->as_string()->get() + "\""
                                             : std::string(config_detail::type_name(*n));
            t.fail_at("shards", *n, "expected \"auto\" or an integer, got " + got);
        }
    }
    r.pin_cpus = t.boolean("pin_cpus", r.pin_cpus);
    r.drain_timeout_ms =
        static_cast<uint32_t>(t.integer("drain_timeout_ms", r.drain_timeout_ms, 0, 3'600'000));
    r.log = parse_enum(t, "log_level", r.log,
                       {{"error", log_level::error},
                        {"warn", log_level::warn},
                        {"info", log_level::info},
                        {"debug", log_level::debug}});
    r.watch_interval_s =
        static_cast<uint32_t>(t.integer("watch_interval_s", r.watch_interval_s, 0, 86400));
    if (const toml::node* n = t.node("upgrade_socket")) {
        if (!n->is_string() || n->as_string()->get().empty()) {
            t.fail_at("upgrade_socket", *n, "expected a unix socket path");
        }
        r.upgrade_socket =
            resolve_file(located_string{n->as_string()->get(), t.origin_of("upgrade_socket", *n)},
                         ctx)
                .path;
        if (r.upgrade_socket.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
            t.fail_at("upgrade_socket", *n, "path too long for a unix socket");
        }
    }
    t.finish();
    return r;
}

limits_config parse_limits(table_reader& t) {
    limits_config l;
    l.max_connections_per_shard = static_cast<uint32_t>(
        t.integer("max_connections_per_shard", l.max_connections_per_shard, 1, 1 << 20));
    l.handshake_timeout_ms = static_cast<uint32_t>(
        t.integer("handshake_timeout_ms", l.handshake_timeout_ms, 100, 600'000));
    l.idle_timeout_ms = static_cast<uint32_t>(
        t.integer("idle_timeout_ms", l.idle_timeout_ms, 1000, max_timeout_ms));
    l.max_connections_per_address = static_cast<uint32_t>(
        t.integer("max_connections_per_address", l.max_connections_per_address, 0, 1 << 24));
    l.handshake_rate_per_address = static_cast<uint32_t>(
        t.integer("handshake_rate_per_address", l.handshake_rate_per_address, 0, 1 << 24));
    l.handshake_rate =
        static_cast<uint32_t>(t.integer("handshake_rate", l.handshake_rate, 0, 1 << 24));
    l.handshake_rate_per_server_name = static_cast<uint32_t>(
        t.integer("handshake_rate_per_server_name", l.handshake_rate_per_server_name, 0, 1 << 24));
    l.body_timeout_ms =
        static_cast<uint32_t>(t.integer("body_timeout_ms", l.body_timeout_ms, 100, max_timeout_ms));
    l.body_min_rate =
        static_cast<uint32_t>(t.integer("body_min_rate", l.body_min_rate, 0, 1 << 30));
    l.lingering_close_ms =
        static_cast<uint32_t>(t.integer("lingering_close_ms", l.lingering_close_ms, 0, 600000));
    l.header_timeout_ms = static_cast<uint32_t>(
        t.integer("header_timeout_ms", l.header_timeout_ms, 100, max_timeout_ms));
    l.max_buffered_bytes = static_cast<uint32_t>(
        t.integer("max_buffered_bytes", l.max_buffered_bytes, 16 * 1024, 64 << 20));
    l.resumable_identities = static_cast<uint32_t>(
        t.integer("resumable_identities", l.resumable_identities, 0, 10'000'000));
    t.finish();
    return l;
}

crl_lifecycle_config parse_crl_lifecycle(table_reader& t) {
    crl_lifecycle_config c;
    c.check_interval_s =
        static_cast<uint32_t>(t.integer("check_interval_s", c.check_interval_s, 0, 86400));
    c.refresh_interval_s =
        static_cast<uint32_t>(t.integer("refresh_interval_s", c.refresh_interval_s, 1, 7 * 86400));
    c.fetch_timeout_ms =
        static_cast<uint32_t>(t.integer("fetch_timeout_ms", c.fetch_timeout_ms, 100, 600'000));
    c.max_bytes = static_cast<uint64_t>(
        t.integer("max_bytes", static_cast<int64_t>(c.max_bytes), 1024, int64_t{4} << 30));
    t.finish();
    return c;
}

// "sha256//" + base64 of a SHA-256 digest, as curl's --pinnedpubkey.
std::array<uint8_t, 32> parse_pin(const located_string& s) {
    constexpr std::string_view prefix = "sha256//";
    std::vector<uint8_t> digest;
    if (!s.value.starts_with(prefix) ||
        !pem::decode_base64(std::string_view(s.value).substr(prefix.size()), digest) ||
        digest.size() != 32) {
        fail(s.origin,
             "a pin is \"sha256//\" and the base64 SHA-256 of the certificate's "
             "SubjectPublicKeyInfo, got \"" +
                 s.value + "\"");
    }
    std::array<uint8_t, 32> out{};
    std::ranges::copy(digest, out.begin());
    return out;
}

constexpr std::string_view system_ca_bundle = "/etc/ssl/certs/ca-certificates.crt";

upstream_tls_config parse_upstream_tls(table_reader& t, const parse_context& ctx) {
    upstream_tls_config c;
    c.mode = parse_enum(t, "mode", c.mode,
                        {{"none", upstream_tls_mode::none},
                         {"tls", upstream_tls_mode::tls},
                         {"mtls", upstream_tls_mode::mtls}});
    if (const toml::node* n = t.node("ca_file")) {
        if (!n->is_string()) {
            t.fail_at("ca_file", *n, "expected a path or \"system\"");
        }
        if (n->as_string()->get() != "system") {
            c.ca_file = resolve_file(
                located_string{n->as_string()->get(), t.origin_of("ca_file", *n)}, ctx);
        }
    }
    c.system_ca_file = file_ref{std::filesystem::path(system_ca_bundle), t.origin()};
    c.system_ca_file.origin.key_path = t.key_path("ca_file");
    c.server_name = lower(t.string("server_name", ""));
    if (!c.server_name.empty() && !valid_server_name(c.server_name)) {
        auto o = t.origin();
        o.key_path = t.key_path("server_name");
        fail(o, "not a host name: \"" + c.server_name + "\"");
    }
    c.verify_hostname = t.boolean("verify_hostname", c.verify_hostname);
    c.verify_name = lower(t.string("verify_name", c.server_name));
    if (t.has("cert")) {
        c.cert = resolve_file(t.required_string("cert"), ctx);
    } else {
        t.node("cert");
    }
    if (t.has("key")) {
        c.key = resolve_file(t.required_string("key"), ctx);
    } else {
        t.node("key");
    }
    if (t.has("key_password_file")) {
        c.key_password_file = resolve_file(t.required_string("key_password_file"), ctx);
    } else {
        t.node("key_password_file");
    }
    c.min_version = parse_enum(t, "min_version", c.min_version,
                               {{"1.2", tls_version::tls1_2}, {"1.3", tls_version::tls1_3}});
    c.session_resumption = t.boolean("session_resumption", c.session_resumption);
    for (const auto& pin : t.string_array("pinned_spki")) {
        c.pinned_spki.push_back(parse_pin(pin));
    }
    if (t.has("crl_file")) {
        c.crl_file = resolve_file(t.required_string("crl_file"), ctx);
    } else {
        t.node("crl_file");
    }
    c.ktls = parse_enum(
        t, "ktls", c.ktls,
        {{"auto", ktls_mode::automatic}, {"on", ktls_mode::on}, {"off", ktls_mode::off}});
    c.ktls_origin = t.has("ktls") ? t.origin_of("ktls", *t.node("ktls")) : t.origin();
    auto here = [&](std::string_view key) {
        auto o = t.origin();
        o.key_path = t.key_path(key);
        return o;
    };
    if (c.mode == upstream_tls_mode::mtls && (!c.cert || !c.key)) {
        fail(here(c.cert ? "key" : "cert"), "mode = \"mtls\" needs cert and key");
    }
    if (c.mode != upstream_tls_mode::mtls && (c.cert || c.key)) {
        fail(here(c.cert ? "cert" : "key"),
             "a client certificate is only sent with mode = \"mtls\"");
    }
    if (c.key_password_file && !c.key) {
        fail(here("key_password_file"), "key_password_file without key");
    }
    if (c.mode != upstream_tls_mode::none && c.verify_hostname && c.verify_name.empty()) {
        fail(here("verify_name"),
             "hostname verification needs a name: set server_name or verify_name (or "
             "verify_hostname = false, which accepts any certificate the CA issued)");
    }
    if (c.mode == upstream_tls_mode::none &&
        (c.ca_file || !c.server_name.empty() || !c.pinned_spki.empty() || c.crl_file ||
         c.ktls == ktls_mode::on)) {
        fail(here("mode"),
             "TLS settings given but mode = \"none\"; set mode = \"tls\" or \"mtls\"");
    }
    t.finish();
    return c;
}

pool_config parse_pool(table_reader& t) {
    pool_config p;
    auto u32 = [&](std::string_view key, uint32_t fallback, int64_t min, int64_t max) {
        return static_cast<uint32_t>(t.integer(key, fallback, min, max));
    };
    p.max_connections = u32("max_connections", p.max_connections, 1, 1 << 20);
    p.min_idle = u32("min_idle", p.min_idle, 0, 1 << 20);
    p.idle_timeout_ms = u32("idle_timeout_ms", p.idle_timeout_ms, 100, max_timeout_ms);
    p.max_requests = u32("max_requests", p.max_requests, 1, 1 << 30);
    p.queue_size = u32("queue_size", p.queue_size, 0, 1 << 20);
    p.queue_timeout_ms = u32("queue_timeout_ms", p.queue_timeout_ms, 1, max_timeout_ms);
    p.response_timeout_ms = u32("response_timeout_ms", p.response_timeout_ms, 10, max_timeout_ms);
    p.down_backoff_ms = u32("down_backoff_ms", p.down_backoff_ms, 10, 600'000);
    p.client_share_percent = u32("client_share_percent", p.client_share_percent, 1, 100);
    if (p.min_idle > p.max_connections) {
        auto o = t.origin();
        o.key_path = t.key_path("min_idle");
        fail(o, "min_idle (" + std::to_string(p.min_idle) + ") exceeds max_connections (" +
                    std::to_string(p.max_connections) + ")");
    }
    t.finish();
    return p;
}

upstream_config parse_upstream(table_reader& t, const parse_context& ctx) {
    upstream_config u;
    u.origin = t.origin();
    std::string name = required_name(t);
    u.name = std::move(name);
    auto addresses = t.string_array("addresses");
    if (addresses.empty()) {
        auto o = t.origin();
        o.key_path = t.key_path("addresses");
        fail(o, "an upstream needs at least one address");
    }
    for (const auto& a : addresses) {
        socket_address addr = parse_address(a);
        if (addr.port() == 0) {
            fail(a.origin, "an upstream port must not be 0");
        }
        u.addresses.push_back(addr);
    }
    u.connect_timeout_ms =
        static_cast<uint32_t>(t.integer("connect_timeout_ms", u.connect_timeout_ms, 10, 600'000));
    u.proxy_v2 = parse_enum(t, "proxy_protocol", false, {{"none", false}, {"v2", true}});
    if (auto tls = t.table("tls")) {
        u.tls = parse_upstream_tls(*tls, ctx);
    }
    if (auto pool = t.table("pool")) {
        u.pool = parse_pool(*pool);
    }
    t.finish();
    return u;
}

certificate_config parse_certificate(table_reader& t, const parse_context& ctx) {
    certificate_config c;
    c.cert = resolve_file(t.required_string("cert"), ctx);
    c.key = resolve_file(t.required_string("key"), ctx);
    for (auto& n : t.string_array("names")) {
        std::string name = lower(n.value);
        if (!valid_server_name(name)) {
            fail(n.origin, "not a host name or \"*.domain\" wildcard: \"" + n.value + "\"");
        }
        c.names.push_back(std::move(name));
    }
    t.finish();
    return c;
}

template <typename T, typename Parse>
std::vector<T> parse_unique_list(table_reader& t, std::string_view key, std::string_view what,
                                 Parse&& parse) {
    std::vector<T> out;
    for (const auto& item : t.string_array(key)) {
        std::optional<T> v = parse(item.value);
        if (!v) {
            fail(item.origin, "unknown " + std::string(what) + " \"" + item.value + "\"");
        }
        if (std::ranges::find(out, *v) != out.end()) {
            fail(item.origin, "duplicate " + std::string(what) + " \"" + item.value + "\"");
        }
        out.push_back(*v);
    }
    return out;
}

std::string supported_suites(tls_version v) {
    std::string out;
    for (const auto& s : tls::supported_cipher_suites()) {
        if (s.version == v) {
            out += (out.empty() ? "" : ", ") + std::string(s.name);
        }
    }
    return out;
}

// ---- client authentication -------------------------------------------------

crl_url parse_crl_url(const located_string& u) {
    std::string_view v = u.value;
    if (!v.starts_with("http://")) {
        fail(u.origin,
             "a CRL URL must be http:// (CRLs are signed; RFC 5280 distributes them "
             "over plain HTTP), got \"" +
                 u.value + "\"");
    }
    std::string_view rest = v.substr(7);
    std::string_view host = rest.substr(0, rest.find('/'));
    if (host.empty() || host.find_first_of("@?# ") != std::string_view::npos) {
        fail(u.origin, "not a valid http:// URL: \"" + u.value + "\"");
    }
    return crl_url{u.value, u.origin};
}

struct crl_defaults {
    crl_policy policy = crl_policy::optional;
    stale_crl_policy stale = stale_crl_policy::reject;
    uint32_t grace_s = 0;
};

// One ca_files entry as written: a path, or a table with its own CRL policy.
struct raw_ca_file {
    located_string path;
    std::optional<crl_policy> policy;
    std::optional<stale_crl_policy> stale;
    std::optional<uint32_t> grace_s;
};

// A client-auth table before inheritance is applied.
struct raw_client_auth {
    client_auth_mode mode = client_auth_mode::none;
    std::vector<raw_ca_file> ca_files;
    bool ca_files_set = false;
    uint32_t verify_depth = 4;
    bool require_x509v3 = false;
    std::vector<std::string> allow_subjects;
    std::vector<std::string> allow_sans;
    crl_defaults crl;
    std::optional<config_origin> stale_origin;  // where crl_stale = "grace" was set
};

const std::initializer_list<std::pair<std::string_view, crl_policy>> crl_policy_names = {
    {"required", crl_policy::required},
    {"optional", crl_policy::optional},
    {"leaf-only", crl_policy::leaf_only}};
const std::initializer_list<std::pair<std::string_view, stale_crl_policy>> stale_names = {
    {"reject", stale_crl_policy::reject},
    {"grace", stale_crl_policy::grace},
    {"warn", stale_crl_policy::warn}};
constexpr int64_t max_grace_s = 30 * 86400;

std::vector<std::string> parse_patterns(table_reader& t, std::string_view key,
                                        const std::vector<std::string>& inherited) {
    if (!t.has(key)) {
        t.node(key);
        return inherited;
    }
    std::vector<std::string> out;
    for (const auto& p : t.string_array(key)) {
        out.push_back(p.value);
    }
    return out;
}

// Reads the client-auth keys of a listener's tls table (parent = nullptr) or
// of one of its sni tables (parent = the listener's, inherited per key).
raw_client_auth read_client_auth(table_reader& t, const parse_context& ctx,
                                 const raw_client_auth* parent, const crl_defaults& defaults) {
    raw_client_auth a;
    if (parent != nullptr) {
        a = *parent;
    }
    a.mode = parse_enum(t, "client_auth", a.mode,
                        {{"none", client_auth_mode::none},
                         {"optional", client_auth_mode::optional},
                         {"require", client_auth_mode::require}});
    a.verify_depth = static_cast<uint32_t>(t.integer("verify_depth", a.verify_depth, 1, 16));
    a.require_x509v3 = t.boolean("require_x509v3", a.require_x509v3);
    a.allow_subjects = parse_patterns(t, "allow_subjects", a.allow_subjects);
    a.allow_sans = parse_patterns(t, "allow_sans", a.allow_sans);
    a.crl.policy = parse_enum(t, "crl_policy", defaults.policy, crl_policy_names);
    a.crl.stale = parse_enum(t, "crl_stale", defaults.stale, stale_names);
    a.crl.grace_s =
        static_cast<uint32_t>(t.integer("crl_grace_s", defaults.grace_s, 0, max_grace_s));
    if (const toml::node* n = t.node("crl_stale")) {
        a.stale_origin = t.origin_of("crl_stale", *n);
    }

    const toml::node* files = t.node("ca_files");
    if (files == nullptr) {
        return a;
    }
    const toml::array* arr = files->as_array();
    if (arr == nullptr) {
        t.fail_at("ca_files", *files,
                  "expected an array of paths or tables, got " +
                      std::string(config_detail::type_name(*files)));
    }
    a.ca_files.clear();
    a.ca_files_set = true;
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::node& item = *arr->get(i);
        std::string path = t.key_path("ca_files") + "[" + std::to_string(i) + "]";
        auto at = config_detail::origin_at(ctx, path, item.source());
        raw_ca_file f;
        if (item.is_string()) {
            f.path = {item.as_string()->get(), at};
        } else if (item.is_table()) {
            table_reader ft(*item.as_table(), path, ctx);
            f.path = ft.required_string("file");
            if (ft.node("crl_policy") != nullptr) {
                f.policy = parse_enum(ft, "crl_policy", crl_policy::required, crl_policy_names);
            }
            if (ft.node("crl_stale") != nullptr) {
                f.stale = parse_enum(ft, "crl_stale", stale_crl_policy::reject, stale_names);
            }
            if (ft.node("crl_grace_s") != nullptr) {
                f.grace_s = static_cast<uint32_t>(ft.integer("crl_grace_s", 0, 0, max_grace_s));
            }
            ft.finish();
        } else {
            fail(at, "expected a path or a table {file = ..., crl_policy = ...}, got " +
                         std::string(config_detail::type_name(item)));
        }
        if (f.path.value.empty()) {
            fail(f.path.origin, "must not be empty");
        }
        a.ca_files.push_back(std::move(f));
    }
    return a;
}

client_auth_config resolve(const raw_client_auth& a, table_reader& t, bool in_sni) {
    client_auth_config c;
    c.mode = a.mode;
    c.verify_depth = a.verify_depth;
    c.require_x509v3 = a.require_x509v3;
    c.allow_subjects = a.allow_subjects;
    c.allow_sans = a.allow_sans;
    c.crl = a.crl.policy;
    c.stale = a.crl.stale;
    c.grace_s = a.crl.grace_s;
    for (const auto& f : a.ca_files) {
        ca_file_config ca;
        ca.file = resolve_file(f.path, t.context());
        ca.crl = f.policy.value_or(a.crl.policy);
        ca.stale = f.stale.value_or(a.crl.stale);
        ca.grace_s = f.grace_s.value_or(a.crl.grace_s);
        if (ca.stale == stale_crl_policy::grace && ca.grace_s == 0) {
            fail(f.stale ? f.path.origin : a.stale_origin.value_or(f.path.origin),
                 "crl_stale = \"grace\" needs crl_grace_s > 0 (seconds a CRL past its "
                 "nextUpdate is still accepted)");
        }
        c.ca_files.push_back(std::move(ca));
    }
    if (c.mode != client_auth_mode::none && c.ca_files.empty()) {
        const toml::node* n = t.node("client_auth");
        auto o = n != nullptr ? t.origin_of("client_auth", *n) : t.origin();
        fail(o, "client_auth = \"" + std::string(to_string(c.mode)) +
                    "\" needs ca_files to verify client certificates against");
    }
    if (c.mode == client_auth_mode::none && a.ca_files_set && !a.ca_files.empty() &&
        (!in_sni || t.has("ca_files"))) {
        fail(a.ca_files.front().path.origin,
             "ca_files has no effect with client_auth = \"none\"; set client_auth to "
             "\"optional\" or \"require\"");
    }
    return c;
}

listener_tls_config parse_listener_tls(table_reader& t, const parse_context& ctx,
                                       listener_mode mode) {
    listener_tls_config c;
    auto versions = {std::pair{std::string_view("1.2"), tls_version::tls1_2},
                     std::pair{std::string_view("1.3"), tls_version::tls1_3}};
    c.min_version = parse_enum(t, "min_version", c.min_version, versions);
    c.max_version = parse_enum(t, "max_version", c.max_version, versions);
    if (c.min_version > c.max_version) {
        const toml::node* n = t.node("max_version");
        t.fail_at("max_version", *n, "max_version is lower than min_version");
    }

    for (auto [key, version] :
         {std::pair{std::string_view("ciphers_tls12"), tls_version::tls1_2},
          std::pair{std::string_view("ciphersuites_tls13"), tls_version::tls1_3}}) {
        auto& target = version == tls_version::tls1_2 ? c.ciphers_tls12 : c.ciphersuites_tls13;
        for (const auto& s : t.string_array(key)) {
            if (tls::find_cipher_suite(s.value, version) == nullptr) {
                fail(s.origin, "unsupported cipher suite \"" + s.value +
                                   "\" (supported: " + supported_suites(version) + ")");
            }
            if (std::ranges::find(target, s.value) != target.end()) {
                fail(s.origin, "duplicate cipher suite \"" + s.value + "\"");
            }
            target.push_back(s.value);
        }
    }

    c.groups = parse_unique_list<tls_group>(t, "groups", "group", tls::parse_group);
    if (c.groups.empty()) {
        c.groups = {tls_group::x25519, tls_group::p256, tls_group::p384};
    }
    c.signature_algorithms = parse_unique_list<signature_scheme>(
        t, "signature_algorithms", "signature algorithm", tls::parse_signature_scheme);

    for (const auto& a : t.string_array("alpn")) {
        if (a.value.size() > 255) {
            fail(a.origin, "an ALPN protocol name is at most 255 bytes");
        }
        if (mode == listener_mode::http && a.value != "http/1.1" && a.value != "http/1.0") {
            fail(a.origin, "mode = \"http\" speaks HTTP/1.1: a client that negotiated \"" +
                               a.value + "\" would have every request refused");
        }
        if (std::ranges::find(c.alpn, a.value) != c.alpn.end()) {
            fail(a.origin, "duplicate ALPN protocol \"" + a.value + "\"");
        }
        c.alpn.push_back(a.value);
    }

    auto certs = t.table_array("certificates");
    if (certs.empty()) {
        auto o = t.origin();
        o.key_path = t.key_path("certificates");
        fail(o, "a listener needs at least one [[" + t.key_path("certificates") + "]] entry");
    }
    for (auto& ct : certs) {
        c.certificates.push_back(parse_certificate(ct, ctx));
    }

    c.crl_files.clear();
    for (const auto& f : t.string_array("crl_files")) {
        c.crl_files.push_back(resolve_file(f, ctx));
    }
    for (const auto& u : t.string_array("crl_urls")) {
        c.crl_urls.push_back(parse_crl_url(u));
    }
    c.crl_distribution_points = t.boolean("crl_distribution_points", false);

    c.session_tickets = t.boolean("session_tickets", c.session_tickets);
    c.session_ticket_lifetime_s = static_cast<uint32_t>(t.integer(
        "session_ticket_lifetime_s", c.session_ticket_lifetime_s, 1, 7 * 86400));  // RFC 8446 4.6.1
    c.session_tickets_per_handshake = static_cast<uint32_t>(
        t.integer("session_tickets_per_handshake", c.session_tickets_per_handshake, 1, 16));
    if (const toml::node* n = t.node("session_ticket_key_file")) {
        if (!n->is_string()) {
            t.fail_at("session_ticket_key_file", *n, "expected a path");
        }
        c.session_ticket_key_file = resolve_file(
            located_string{n->as_string()->get(), t.origin_of("session_ticket_key_file", *n)}, ctx);
    }
    c.session_ticket_key_rotation_s = static_cast<uint32_t>(
        t.integer("session_ticket_key_rotation_s", c.session_ticket_key_rotation_s, 60, 7 * 86400));
    for (std::string_view key : {"session_ticket_lifetime_s", "session_tickets_per_handshake",
                                 "session_ticket_key_file", "session_ticket_key_rotation_s"}) {
        if (!c.session_tickets && t.has(key)) {
            t.fail_at(key, *t.node(key),
                      std::string(key) + " has no effect with session_tickets = false");
        }
    }
    if (c.session_ticket_key_file && t.has("session_ticket_key_rotation_s")) {
        t.fail_at("session_ticket_key_rotation_s", *t.node("session_ticket_key_rotation_s"),
                  "session_ticket_key_rotation_s has no effect with session_ticket_key_file "
                  "(rotate by rewriting the file: first key seals, all keys open)");
    }
    c.ktls = parse_enum(
        t, "ktls", c.ktls,
        {{"auto", ktls_mode::automatic}, {"on", ktls_mode::on}, {"off", ktls_mode::off}});
    c.ktls_origin = t.has("ktls") ? t.origin_of("ktls", *t.node("ktls")) : t.origin();
    bool has_crls = !c.crl_files.empty() || !c.crl_urls.empty() || c.crl_distribution_points;

    // The listener's settings, then each [[sni]] table over them.
    crl_defaults base{has_crls ? crl_policy::required : crl_policy::optional,
                      stale_crl_policy::reject, 0};
    raw_client_auth listener_auth = read_client_auth(t, ctx, nullptr, base);
    c.client_auth = resolve(listener_auth, t, false);
    std::set<std::string> sni_names;
    for (auto& st : t.table_array("sni")) {
        sni_client_auth_config sni;
        sni.origin = st.origin();
        const toml::node* names = st.node("names");
        const toml::array* arr = names != nullptr ? names->as_array() : nullptr;
        if (arr == nullptr || arr->empty()) {
            auto o = st.origin();
            o.key_path = st.key_path("names");
            fail(o, "an [[" + t.key_path("sni") +
                        "]] table needs names = [...] (host names, \"*.domain\" wildcards, "
                        "or \"\" for clients that send no server name)");
        }
        for (std::size_t i = 0; i < arr->size(); ++i) {
            const toml::node& item = *arr->get(i);
            auto at = config_detail::origin_at(
                ctx, st.key_path("names") + "[" + std::to_string(i) + "]", item.source());
            if (!item.is_string()) {
                fail(at, "expected a string, got " + std::string(config_detail::type_name(item)));
            }
            std::string name = lower(item.as_string()->get());
            if (!name.empty() && !valid_server_name(name)) {
                fail(at, "not a host name, \"*.domain\" wildcard or \"\": \"" +
                             item.as_string()->get() + "\"");
            }
            if (!sni_names.insert(name).second) {
                fail(at, "\"" + name + "\" is already named by another sni table");
            }
            sni.names.push_back(std::move(name));
        }
        raw_client_auth raw = read_client_auth(st, ctx, &listener_auth, listener_auth.crl);
        sni.auth = resolve(raw, st, true);
        st.finish();
        c.sni.push_back(std::move(sni));
    }

    bool any_verifies = c.client_auth.mode != client_auth_mode::none;
    for (const auto& sni : c.sni) {
        any_verifies = any_verifies || sni.auth.mode != client_auth_mode::none;
    }
    if (!any_verifies) {
        // A CRL that is never consulted looks like protection and is not:
        // refuse it rather than let an operator believe clients are checked.
        const config_origin* at = !c.crl_files.empty()  ? &c.crl_files.front().origin
                                  : !c.crl_urls.empty() ? &c.crl_urls.front().origin
                                                        : nullptr;
        if (at != nullptr) {
            fail(*at, std::string(!c.crl_files.empty() ? "crl_files" : "crl_urls") +
                          " has no effect with client_auth = \"none\"; set client_auth to "
                          "\"optional\" or \"require\"");
        }
    }
    t.finish();
    return c;
}

http_listener_config parse_http(table_reader& t) {
    http_listener_config h;
    h.x_forwarded_for = t.boolean("x_forwarded_for", h.x_forwarded_for);
    h.x_forwarded_proto = t.boolean("x_forwarded_proto", h.x_forwarded_proto);
    h.x_forwarded_host = t.boolean("x_forwarded_host", h.x_forwarded_host);
    h.client_identity = parse_enum(t, "client_identity", h.client_identity,
                                   {{"none", identity_format::none},
                                    {"rfc9440", identity_format::rfc9440},
                                    {"xfcc", identity_format::xfcc},
                                    {"fields", identity_format::fields}});
    h.sni_host_binding = t.boolean("sni_host_binding", h.sni_host_binding);
    h.max_head_bytes =
        static_cast<uint32_t>(t.integer("max_head_bytes", h.max_head_bytes, 1024, 1 << 20));
    h.max_headers = static_cast<uint32_t>(t.integer("max_headers", h.max_headers, 8, 1000));
    h.underscores_in_headers = t.boolean("underscores_in_headers", h.underscores_in_headers);
    h.buffer_request_bytes = static_cast<uint32_t>(
        t.integer("buffer_request_bytes", h.buffer_request_bytes, 0, 64 << 20));
    if (t.has("upgrade_protocols")) {
        h.upgrade_protocols.clear();
        for (const auto& p : t.string_array("upgrade_protocols")) {
            std::string token = lower(p.value);
            if (token.empty() || token.find_first_of(" \t,/") != std::string::npos) {
                fail(p.origin, "not a protocol name: \"" + p.value + "\"");
            }
            if (token == "h2c") {
                fail(p.origin,
                     "h2c is not valid over TLS (RFC 9113 section 3.2); HTTP/2 over TLS is "
                     "negotiated by ALPN");
            }
            h.upgrade_protocols.push_back(std::move(token));
        }
    } else {
        t.node("upgrade_protocols");
    }
    t.finish();
    return h;
}

std::vector<std::string> parse_host_patterns(table_reader& t, std::string_view key) {
    std::vector<std::string> out;
    for (const auto& n : t.string_array(key)) {
        std::string name = lower(n.value);
        if (!valid_server_name(name)) {
            fail(n.origin, "not a host name or \"*.domain\" wildcard: \"" + n.value + "\"");
        }
        out.push_back(std::move(name));
    }
    return out;
}

route_config parse_route(table_reader& t) {
    route_config r;
    r.origin = t.origin();
    r.server_names = parse_host_patterns(t, "server_names");
    r.hosts = parse_host_patterns(t, "hosts");
    r.path_prefix = t.string("path_prefix", "");
    if (!r.path_prefix.empty() && r.path_prefix.front() != '/') {
        auto o = t.origin();
        o.key_path = t.key_path("path_prefix");
        fail(o, "a path prefix starts with '/', got \"" + r.path_prefix + "\"");
    }
    r.upstream = t.required_string("upstream").value;
    t.finish();
    return r;
}

listener_config parse_listener(table_reader& t, const parse_context& ctx) {
    listener_config l;
    l.origin = t.origin();
    std::string name = required_name(t);
    l.name = std::move(name);
    l.address = parse_address(t.required_string("address"));
    l.mode =
        parse_enum(t, "mode", l.mode, {{"tcp", listener_mode::tcp}, {"http", listener_mode::http}});
    l.upstream = t.required_string("upstream").value;
    l.splice = t.boolean("splice", l.splice);
    if (l.mode != listener_mode::tcp && t.has("splice")) {
        t.fail_at("splice", *t.node("splice"),
                  "splice applies to mode = \"tcp\" listeners (HTTP mode reads every request)");
    }
    if (auto http = t.table("http")) {
        if (l.mode != listener_mode::http) {
            fail(http->origin(), "[" + http->path() + "] needs mode = \"http\"");
        }
        l.http = parse_http(*http);
    }
    for (auto& r : t.table_array("routes")) {
        if (l.mode != listener_mode::http) {
            fail(r.origin(), "routes need mode = \"http\"");
        }
        l.routes.push_back(parse_route(r));
    }
    auto tls = t.table("tls");
    if (!tls) {
        auto o = t.origin();
        o.key_path = t.key_path("tls");
        fail(o, "missing required table [" + t.key_path("tls") + "]");
    }
    l.tls = parse_listener_tls(*tls, ctx, l.mode);
    t.finish();
    return l;
}

// Two listeners conflict when they would accept on the same port: the same
// address, or the same family where either is the wildcard address.
bool addresses_conflict(const socket_address& a, const socket_address& b) {
    if (a.port() == 0 || b.port() == 0 || a.port() != b.port() || a.family() != b.family()) {
        return false;
    }
    if (a == b) {
        return true;
    }
    auto is_any = [](const socket_address& s) {
        if (s.family() == AF_INET) {
            return reinterpret_cast<const sockaddr_in*>(s.data())->sin_addr.s_addr == INADDR_ANY;
        }
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(s.data());
        return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) != 0;
    };
    return is_any(a) || is_any(b);
}

void validate_cross_references(const config& c) {
    for (std::size_t i = 0; i < c.upstreams.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (c.upstreams[i].name == c.upstreams[j].name) {
                auto o = c.upstreams[i].origin;
                o.key_path += ".name";
                fail(o, "duplicate upstream name \"" + c.upstreams[i].name + "\" (also " +
                            c.upstreams[j].origin.to_string() + ")");
            }
        }
    }
    for (std::size_t i = 0; i < c.listeners.size(); ++i) {
        const auto& l = c.listeners[i];
        for (std::size_t j = 0; j < i; ++j) {
            const auto& other = c.listeners[j];
            if (l.name == other.name) {
                auto o = l.origin;
                o.key_path += ".name";
                fail(o, "duplicate listener name \"" + l.name + "\" (also " +
                            other.origin.to_string() + ")");
            }
            if (addresses_conflict(l.address, other.address)) {
                auto o = l.origin;
                o.key_path += ".address";
                fail(o, "duplicate listener address " + l.address.to_string() + " overlaps " +
                            other.address.to_string() + " of listener \"" + other.name + "\" (" +
                            other.origin.to_string() + ")");
            }
        }
        auto check_upstream = [&](const std::string& name, config_origin o) {
            const upstream_config* u = c.find_upstream(name);
            if (u == nullptr) {
                std::string defined;
                for (const auto& up : c.upstreams) {
                    defined += (defined.empty() ? "" : ", ") + up.name;
                }
                fail(o, "unknown upstream \"" + name + "\" (defined: " +
                            (defined.empty() ? std::string("none") : defined) + ")");
            }
            if (l.mode == listener_mode::tcp && u->tls.mode != upstream_tls_mode::none) {
                fail(o, "upstream \"" + name + "\" uses TLS (" + u->origin.to_string() +
                            "); a listener with mode = \"tcp\" pipes bytes unchanged, use "
                            "mode = \"http\"");
            }
            if (l.mode == listener_mode::http && u->proxy_v2) {
                fail(o, "upstream \"" + name +
                            "\" sends a PROXY v2 header, which describes one client connection; "
                            "pooled HTTP upstream connections carry many");
            }
        };
        auto o = l.origin;
        o.key_path += ".upstream";
        check_upstream(l.upstream, o);
        for (const auto& r : l.routes) {
            auto ro = r.origin;
            ro.key_path += ".upstream";
            check_upstream(r.upstream, ro);
        }
    }
}

// ---- files ---------------------------------------------------------------

std::string read_or_fail(const file_ref& f) {
    auto data = read_file(f.path);
    if (!data) {
        fail(f.origin, data.error());
    }
    return std::move(*data);
}

void check_files(listener_tls_config& tls) {
    if (tls.session_ticket_key_file) {
        const file_ref& f = *tls.session_ticket_key_file;
        if (auto keys = tls::parse_ticket_key_file(read_or_fail(f)); !keys) {
            fail(f.origin, f.path.string() + ": " + keys.error());
        }
    }
    std::map<std::pair<std::string, key_type>, std::size_t> served;
    for (std::size_t i = 0; i < tls.certificates.size(); ++i) {
        auto& cert = tls.certificates[i];
        std::string chain = read_or_fail(cert.cert);
        std::string key = read_or_fail(cert.key);
        auto info = tls::check_server_credentials(chain, key);
        if (!info) {
            const file_ref& at = info.error().in_key ? cert.key : cert.cert;
            fail(at.origin, at.path.string() + ": " + info.error().message);
        }
        cert.type = info->type;
        if (cert.names.empty()) {
            for (auto& n : info->dns_names) {
                cert.names.push_back(lower(n));
            }
        }
        for (const auto& name : cert.names) {
            auto [it, fresh] = served.emplace(std::pair{name, cert.type}, i);
            if (!fresh) {
                fail(cert.cert.origin,
                     "a second " + std::string(cert.type == key_type::rsa ? "RSA" : "ECDSA") +
                         " certificate for \"" + name + "\" (the first is certificates[" +
                         std::to_string(it->second) + "])");
            }
        }
    }
    // With TLS 1.3 off, a certificate needs a TLS 1.2 suite that signs with
    // its key type, or every handshake that selects it fails.
    if (tls.max_version == tls_version::tls1_2 && !tls.ciphers_tls12.empty()) {
        for (const auto& cert : tls.certificates) {
            bool ecdsa = cert.type == key_type::ecdsa;
            bool usable = std::ranges::any_of(tls.ciphers_tls12, [&](const std::string& name) {
                return tls::find_cipher_suite(name, tls_version::tls1_2)->works_with(cert.type);
            });
            if (!usable) {
                fail(cert.cert.origin,
                     cert.cert.path.string() + ": no suite in ciphers_tls12 works with this " +
                         (ecdsa ? "ECDSA" : "RSA") + " certificate, and TLS 1.3 is off");
            }
        }
    }
    // Every CA of every ca_files list (listener and sni tables), once.
    tls::trust_anchors anchors;
    auto read_cas = [&](const client_auth_config& auth) {
        for (const auto& ca : auth.ca_files) {
            if (anchors.by_file.contains(ca.file.path)) {
                continue;
            }
            if (auto ok = anchors.add_file(ca.file.path, read_or_fail(ca.file)); !ok) {
                fail(ca.file.origin, ok.error());
            }
        }
    };
    read_cas(tls.client_auth);
    for (const auto& sni : tls.sni) {
        read_cas(sni.auth);
    }
    // Every CRL must come from one of the configured CAs and carry its
    // signature: a CRL that cannot be attributed protects nothing.
    const std::vector<crl::trusted_ca>& cas = *anchors.cas;
    std::vector<bool> has_crl(cas.size(), false);
    for (const auto& file : tls.crl_files) {
        auto crls = crl::load_crls(read_or_fail(file), file.path.string(), cas,
                                   /*index_serials=*/false);
        if (!crls) {
            fail(file.origin, file.path.string() + ": " + crls.error());
        }
        for (const auto& c : *crls) {
            has_crl[c->ca] = true;
        }
    }
    // A CA whose certificates need a CRL must have one, or every client it
    // issued would be refused: say so now rather than at the first handshake.
    // (CRLs fetched from URLs are only known once fetched.)
    if (!tls.crl_urls.empty() || tls.crl_distribution_points) {
        return;
    }
    auto check_required = [&](const client_auth_config& auth) {
        if (auth.mode == client_auth_mode::none) {
            return;
        }
        for (const auto& ca : auth.ca_files) {
            if (ca.crl == crl_policy::optional) {
                continue;
            }
            for (std::size_t i : anchors.by_file[ca.file.path]) {
                if (!has_crl[i]) {
                    fail(ca.file.origin,
                         ca.file.path.string() + ": CA " +
                             x509::name_to_string(cas[i].cert.subject_der) + " has crl_policy \"" +
                             std::string(to_string(ca.crl)) +
                             "\" but no CRL in crl_files; add its CRL or set crl_policy = "
                             "\"optional\" for it");
                }
            }
        }
    };
    check_required(tls.client_auth);
    for (const auto& sni : tls.sni) {
        check_required(sni.auth);
    }
}

void check_upstream_files(const upstream_tls_config& tls) {
    if (tls.mode == upstream_tls_mode::none) {
        return;
    }
    const file_ref& ca = tls.ca_file ? *tls.ca_file : tls.system_ca_file;
    auto bundle = read_file(ca.path);
    if (!bundle) {
        fail(ca.origin, bundle.error() + (tls.ca_file ? ""
                                                      : " (the system CA store; install "
                                                        "ca-certificates or set ca_file)"));
    }
    if (auto cas = tls::check_ca_bundle(*bundle); !cas) {
        fail(ca.origin, ca.path.string() + ": " + cas.error());
    }
    if (tls.cert) {
        std::string password;
        if (tls.key_password_file) {
            auto secret = read_secret_file(tls.key_password_file->path);
            if (!secret) {
                fail(tls.key_password_file->origin, secret.error());
            }
            password = std::move(*secret);
        }
        auto info = tls::check_server_credentials(read_or_fail(*tls.cert), read_or_fail(*tls.key),
                                                  password);
        if (!info) {
            const file_ref& at = info.error().in_key ? *tls.key : *tls.cert;
            fail(at.origin, at.path.string() + ": " + info.error().message);
        }
    }
    if (tls.crl_file) {
        auto crls = crl::split_crl_file(read_or_fail(*tls.crl_file));
        if (!crls) {
            fail(tls.crl_file->origin, tls.crl_file->path.string() + ": " + crls.error());
        }
    }
}

// config::files: what a reload reads again.
void list_files(config& c) {
    auto add = [&](const file_ref& f, bool crl) {
        for (const auto& seen : c.files) {
            if (seen.file.path == f.path) {
                return;
            }
        }
        c.files.push_back({f, crl});
    };
    add(file_ref{c.source, config_origin{"", c.source.string(), 0, 0}}, false);
    auto add_auth = [&](const client_auth_config& a) {
        for (const auto& ca : a.ca_files) {
            add(ca.file, false);
        }
    };
    for (const auto& l : c.listeners) {
        for (const auto& cert : l.tls.certificates) {
            add(cert.cert, false);
            add(cert.key, false);
        }
        add_auth(l.tls.client_auth);
        for (const auto& s : l.tls.sni) {
            add_auth(s.auth);
        }
        for (const auto& f : l.tls.crl_files) {
            add(f, true);
        }
        if (l.tls.session_ticket_key_file) {
            add(*l.tls.session_ticket_key_file, false);
        }
    }
    for (const auto& u : c.upstreams) {
        const auto& t = u.tls;
        if (t.mode == upstream_tls_mode::none) {
            continue;
        }
        add(t.ca_file ? *t.ca_file : t.system_ca_file, false);
        for (const auto* f : {&t.cert, &t.key, &t.key_password_file}) {
            if (*f) {
                add(**f, false);
            }
        }
        if (t.crl_file) {
            add(*t.crl_file, false);  // read by the upstream context, not the CRL manager
        }
    }
}

std::shared_ptr<const config> parse_document(const toml::table& doc, const parse_context& ctx,
                                             std::filesystem::path source) {
    auto c = std::make_shared<config>();
    c->source = std::move(source);
    table_reader root(doc, "", ctx);
    if (auto t = root.table("runtime")) {
        c->runtime = parse_runtime(*t, ctx);
    }
    if (auto t = root.table("limits")) {
        c->limits = parse_limits(*t);
    }
    if (auto t = root.table("crl")) {
        c->crl = parse_crl_lifecycle(*t);
    }
    for (auto& t : root.table_array("upstreams")) {
        c->upstreams.push_back(parse_upstream(t, ctx));
    }
    auto listeners = root.table_array("listeners");
    for (auto& t : listeners) {
        c->listeners.push_back(parse_listener(t, ctx));
    }
    root.finish();
    if (c->listeners.empty()) {
        fail(config_origin{"listeners", ctx.file, 0, 0},
             "no [[listeners]] defined; nothing would be served");
    }
    validate_cross_references(*c);
    for (auto& l : c->listeners) {
        check_files(l.tls);
    }
    for (auto& u : c->upstreams) {
        check_upstream_files(u.tls);
    }
    list_files(*c);
    return c;
}

}  // namespace

const upstream_config* config::find_upstream(std::string_view name) const {
    for (const auto& u : upstreams) {
        if (u.name == name) {
            return &u;
        }
    }
    return nullptr;
}

namespace {

std::expected<std::shared_ptr<const config>, config_error> load(std::string_view toml_text,
                                                                parse_context ctx,
                                                                std::filesystem::path source) {
    try {
        toml::table doc = toml::parse(toml_text, ctx.file);
        return parse_document(doc, ctx, std::move(source));
    } catch (const toml::parse_error& e) {
        config_error err;
        err.origin.file = ctx.file;
        err.origin.line = e.source().begin.line;
        err.origin.column = e.source().begin.column;
        err.message = "TOML syntax error: " + std::string(e.description());
        return std::unexpected(std::move(err));
    } catch (const config_failure& f) {
        return std::unexpected(f.error());
    }
}

}  // namespace

std::expected<std::shared_ptr<const config>, config_error> load_config_from_string(
    std::string_view toml_text, std::string display_name, const std::filesystem::path& base_dir) {
    auto source = std::filesystem::absolute(base_dir / display_name).lexically_normal();
    return load(toml_text, parse_context{std::move(display_name), base_dir}, std::move(source));
}

std::expected<std::shared_ptr<const config>, config_error> load_config(
    const std::filesystem::path& file) {
    auto text = read_file(file, 16u << 20);
    if (!text) {
        config_error err;
        err.origin.file = file.string();
        err.message = text.error();
        return std::unexpected(std::move(err));
    }
    auto source = std::filesystem::absolute(file).lexically_normal();
    return load(*text, parse_context{file.string(), source.parent_path()}, source);
}

}  // namespace tlsterm
