// The config schema: parse -> validate -> check files -> freeze.
//
// Limits below are the accepted ranges; docs/config.md lists the same ones
// and config/tlsterm.toml documents every key.
#include <algorithm>
#include <map>
#include <sstream>
#include <utility>

#include <tlsterm/config.h>

#include "common/file.h"
#include "config/reader.h"
#include "crl/crl_file.h"
#include "crl/verify.h"
#include "tls/ciphers.h"
#include "tls/credentials.h"

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

runtime_config parse_runtime(table_reader& t) {
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
    l.max_buffered_bytes = static_cast<uint32_t>(
        t.integer("max_buffered_bytes", l.max_buffered_bytes, 16 * 1024, 64 << 20));
    t.finish();
    return l;
}

upstream_config parse_upstream(table_reader& t) {
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

listener_tls_config parse_listener_tls(table_reader& t, const parse_context& ctx) {
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

    c.client_auth = parse_enum(t, "client_auth", c.client_auth,
                               {{"none", client_auth_mode::none},
                                {"optional", client_auth_mode::optional},
                                {"require", client_auth_mode::require}});
    for (const auto& f : t.string_array("ca_files")) {
        c.ca_files.push_back(resolve_file(f, ctx));
    }
    for (const auto& f : t.string_array("crl_files")) {
        c.crl_files.push_back(resolve_file(f, ctx));
    }
    c.verify_depth = static_cast<uint32_t>(t.integer("verify_depth", c.verify_depth, 1, 16));

    if (c.client_auth != client_auth_mode::none && c.ca_files.empty()) {
        const toml::node* n = t.node("client_auth");
        t.fail_at("client_auth", *n,
                  "client_auth = \"" + std::string(to_string(c.client_auth)) +
                      "\" needs ca_files to verify client certificates against");
    }
    if (c.client_auth == client_auth_mode::none) {
        // A CA or CRL that is never consulted looks like protection and is
        // not: refuse it rather than let an operator believe clients are
        // checked.
        if (!c.ca_files.empty()) {
            fail(c.ca_files.front().origin,
                 "ca_files has no effect with client_auth = \"none\"; set client_auth to "
                 "\"optional\" or \"require\"");
        }
        if (!c.crl_files.empty()) {
            fail(c.crl_files.front().origin,
                 "crl_files has no effect with client_auth = \"none\"; set client_auth to "
                 "\"optional\" or \"require\"");
        }
    }
    t.finish();
    return c;
}

listener_config parse_listener(table_reader& t, const parse_context& ctx) {
    listener_config l;
    l.origin = t.origin();
    std::string name = required_name(t);
    l.name = std::move(name);
    l.address = parse_address(t.required_string("address"));
    l.upstream = t.required_string("upstream").value;
    auto tls = t.table("tls");
    if (!tls) {
        auto o = t.origin();
        o.key_path = t.key_path("tls");
        fail(o, "missing required table [" + t.key_path("tls") + "]");
    }
    l.tls = parse_listener_tls(*tls, ctx);
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
        if (c.find_upstream(l.upstream) == nullptr) {
            std::string defined;
            for (const auto& u : c.upstreams) {
                defined += (defined.empty() ? "" : ", ") + u.name;
            }
            auto o = l.origin;
            o.key_path += ".upstream";
            fail(o, "unknown upstream \"" + l.upstream +
                        "\" (defined: " + (defined.empty() ? std::string("none") : defined) + ")");
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
    std::vector<crl::ca_identity> cas;
    for (const auto& ca : tls.ca_files) {
        auto bundle = tls::check_ca_bundle(read_or_fail(ca));
        if (!bundle) {
            fail(ca.origin, ca.path.string() + ": " + bundle.error());
        }
        for (const auto& der : *bundle) {
            auto id = crl::read_ca_identity(der);
            if (!id) {
                fail(ca.origin, ca.path.string() + ": " + id.error());
            }
            cas.push_back(std::move(*id));
        }
    }
    // Every CRL must come from one of the configured CAs and carry its
    // signature: a CRL that cannot be attributed protects nothing.
    for (const auto& file : tls.crl_files) {
        auto crls = crl::inspect_crl_file(read_or_fail(file));
        if (!crls) {
            fail(file.origin, file.path.string() + ": not a valid CRL: " + crls.error());
        }
        for (std::size_t i = 0; i < crls->size(); ++i) {
            const auto& c = (*crls)[i];
            std::string which = crls->size() > 1 ? " (CRL " + std::to_string(i + 1) + ")" : "";
            std::string why;
            bool issuer_known = false;
            bool verified = false;
            for (const auto& ca : cas) {
                if (ca.subject_der != c.issuer_der) {
                    continue;
                }
                issuer_known = true;
                auto ok = crl::verify_crl_signature(c, ca);
                if (ok) {
                    verified = true;
                    break;
                }
                why = ok.error();
            }
            if (!issuer_known) {
                fail(file.origin, file.path.string() + which + ": issued by " +
                                      crl::name_to_string(c.issuer_der) +
                                      ", which is not a CA in ca_files");
            }
            if (!verified) {
                fail(file.origin, file.path.string() + which + ": " + why);
            }
        }
    }
}

std::shared_ptr<const config> parse_document(const toml::table& doc, const parse_context& ctx,
                                             std::filesystem::path source) {
    auto c = std::make_shared<config>();
    c->source = std::move(source);
    table_reader root(doc, "", ctx);
    if (auto t = root.table("runtime")) {
        c->runtime = parse_runtime(*t);
    }
    if (auto t = root.table("limits")) {
        c->limits = parse_limits(*t);
    }
    for (auto& t : root.table_array("upstreams")) {
        c->upstreams.push_back(parse_upstream(t));
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
