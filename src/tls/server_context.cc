#include "tls/server_context.h"

#include <algorithm>

#include "common/file.h"
#include "common/pem.h"
#include "tls/ciphers.h"
#include "tls/security_defaults.h"
#include "tls/session.h"
#include "tls/ticket.h"

namespace tlsterm::tls {

namespace {

std::string wolfssl_sigalg(signature_scheme s) {
    switch (s) {
        case signature_scheme::rsa_pkcs1_sha256:
            return "RSA+SHA256";
        case signature_scheme::rsa_pkcs1_sha384:
            return "RSA+SHA384";
        case signature_scheme::rsa_pkcs1_sha512:
            return "RSA+SHA512";
        case signature_scheme::ecdsa_secp256r1_sha256:
            return "ECDSA+SHA256";
        case signature_scheme::ecdsa_secp384r1_sha384:
            return "ECDSA+SHA384";
        case signature_scheme::ecdsa_secp521r1_sha512:
            return "ECDSA+SHA512";
        case signature_scheme::rsa_pss_rsae_sha256:
            return "RSA-PSS+SHA256";
        case signature_scheme::rsa_pss_rsae_sha384:
            return "RSA-PSS+SHA384";
        case signature_scheme::rsa_pss_rsae_sha512:
            return "RSA-PSS+SHA512";
    }
    return "";
}

// The suites of one certificate's context: TLS 1.3 suites, then the TLS
// 1.2 suites whose authentication matches the certificate's key.
std::vector<const cipher_suite*> served_suites(const listener_tls_config& c, key_type type) {
    std::vector<const cipher_suite*> out;
    auto add_all = [&](const std::vector<std::string>& chosen, tls_version v) {
        if (chosen.empty()) {
            for (const auto& s : supported_cipher_suites()) {
                if (s.version == v && s.works_with(type)) {
                    out.push_back(&s);
                }
            }
            return;
        }
        for (const auto& name : chosen) {
            const cipher_suite* s = find_cipher_suite(name, v);
            if (s != nullptr && s->works_with(type)) {
                out.push_back(s);
            }
        }
    };
    if (c.max_version == tls_version::tls1_3) {
        add_all(c.ciphersuites_tls13, tls_version::tls1_3);
    }
    if (c.min_version == tls_version::tls1_2) {
        add_all(c.ciphers_tls12, tls_version::tls1_2);
    }
    return out;
}

// ... as wolfSSL's cipher list.
std::string cipher_list(const listener_tls_config& c, key_type type) {
    std::string out;
    for (const cipher_suite* s : served_suites(c, type)) {
        out += (out.empty() ? "" : ":") + std::string(s->wolfssl_name);
    }
    return out;
}

std::expected<ctx_ptr, std::string> make_context(const listener_tls_config& c,
                                                 const certificate_config& cert,
                                                 const auth_policy& policy,
                                                 const trust_anchors& anchors,
                                                 ticket_issuer* tickets) {
    ctx_ptr ctx(wolfSSL_CTX_new(wolfSSLv23_server_method()));
    if (!ctx) {
        return std::unexpected("wolfSSL_CTX_new failed");
    }
    WOLFSSL_CTX* x = ctx.get();
    auto fail = [&](const std::string& what) -> std::expected<ctx_ptr, std::string> {
        return std::unexpected(cert.cert.path.string() + ": " + what);
    };
    // Nothing renegotiates or skips a check, and only tlsterm's own tickets
    // resume (security_defaults.h). First, while the context still allows
    // TLS 1.3 (the TLS 1.3 settings are refused on a context limited to
    // TLS 1.2).
    if (!apply_server_defaults(x, tickets != nullptr ? &session::ticket_callback : nullptr)) {
        return fail("the TLS library refused a security setting");
    }
    if (tickets != nullptr) {
        // The lifetime is both the hint sent with each ticket and the age
        // past which wolfSSL refuses one (tlsterm's callback checks it too).
        if (wolfSSL_CTX_set_TicketEncCtx(x, tickets) != WOLFSSL_SUCCESS ||
            wolfSSL_CTX_set_timeout(x, tickets->lifetime_s) != WOLFSSL_SUCCESS ||
            wolfSSL_CTX_set_num_tickets(x, c.session_tickets_per_handshake) != WOLFSSL_SUCCESS) {
            return fail("the TLS library refused the session ticket settings");
        }
    }
    if (wolfSSL_CTX_SetMinVersion(
            x, c.min_version == tls_version::tls1_3 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2) !=
            WOLFSSL_SUCCESS ||
        wolfSSL_CTX_set_max_proto_version(
            x, c.max_version == tls_version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION) !=
            WOLFSSL_SUCCESS) {
        return fail("cannot set the TLS version range");
    }
    std::string suites = cipher_list(c, cert.type);
    if (suites.empty()) {
        return fail(std::string("no configured cipher suite can be used with an ") +
                    (cert.type == key_type::rsa ? "RSA" : "ECDSA") + " certificate");
    }
    if (wolfSSL_CTX_set_cipher_list(x, suites.c_str()) != WOLFSSL_SUCCESS) {
        return fail("cipher list refused: " + suites);
    }
    if (!c.signature_algorithms.empty()) {
        std::string list;
        for (auto s : c.signature_algorithms) {
            list += (list.empty() ? "" : ":") + wolfssl_sigalg(s);
        }
        if (wolfSSL_CTX_set1_sigalgs_list(x, list.c_str()) != WOLFSSL_SUCCESS) {
            return fail("signature algorithms refused: " + list);
        }
    }
    // By name: wolfSSL_CTX_set1_curves_list sets the TLS 1.3 groups in
    // order and also disables every other curve for TLS 1.2 ECDHE, which
    // wolfSSL_CTX_set_groups alone leaves open.
    std::string groups;
    for (auto g : c.groups) {
        groups += (groups.empty() ? "" : ":") + std::string(to_string(g));
    }
    if (wolfSSL_CTX_set1_curves_list(x, groups.c_str()) != WOLFSSL_SUCCESS) {
        return fail("groups refused: " + groups);
    }

    auto chain = read_file(cert.cert.path);
    auto key = read_file(cert.key.path);
    if (!chain) {
        return std::unexpected(chain.error());
    }
    if (!key) {
        return std::unexpected(key.error());
    }
    if (wolfSSL_CTX_use_certificate_chain_buffer(
            x, reinterpret_cast<const unsigned char*>(chain->data()),
            static_cast<long>(chain->size())) != WOLFSSL_SUCCESS) {
        return fail("certificate chain refused by the TLS library");
    }
    int key_format = pem::looks_like_pem(*key) ? WOLFSSL_FILETYPE_PEM : WOLFSSL_FILETYPE_ASN1;
    if (wolfSSL_CTX_use_PrivateKey_buffer(x, reinterpret_cast<const unsigned char*>(key->data()),
                                          static_cast<long>(key->size()),
                                          key_format) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_check_private_key(x) != WOLFSSL_SUCCESS) {
        return std::unexpected(cert.key.path.string() + ": private key refused or mismatched");
    }

    if (!apply_policy(x, policy, anchors)) {
        return fail("a CA certificate was refused by the TLS library");
    }
    session::install_io_callbacks(x);
    return ctx;
}

}  // namespace

std::expected<std::unique_ptr<server_context>, std::string> server_context::create(
    const std::string& listener, const listener_tls_config& config, const trust_anchors& anchors,
    std::shared_ptr<ticket_keys> tickets) {
    init_library();
    std::unique_ptr<server_context> sc(new server_context());
    sc->_config = config;
    for (auto g : config.groups) {
        switch (g) {
            case tls_group::x25519:
                sc->_group_ids.push_back(29);
                break;
            case tls_group::p256:
                sc->_group_ids.push_back(23);
                break;
            case tls_group::p384:
                sc->_group_ids.push_back(24);
                break;
            case tls_group::p521:
                sc->_group_ids.push_back(25);
                break;
        }
    }
    for (const auto& cert : config.certificates) {
        for (const cipher_suite* s : served_suites(config, cert.type)) {
            if (std::ranges::find(sc->_suite_ids, s->code) == sc->_suite_ids.end()) {
                sc->_suite_ids.push_back(s->code);
            }
        }
    }
    sc->_policies.push_back(auth_policy::make(config.client_auth, anchors));
    for (const auto& sni : config.sni) {
        std::size_t index = sc->_policies.size();
        sc->_policies.push_back(auth_policy::make(sni.auth, anchors));
        for (const auto& name : sni.names) {
            if (name.empty()) {
                sc->_policy_no_name = index;
            } else if (name.starts_with("*.")) {
                sc->_policy_wildcard[name.substr(2)] = index;
            } else {
                sc->_policy_exact[name] = index;
            }
        }
    }
    if (tickets) {
        for (const auto& policy : sc->_policies) {
            auto& issuer = sc->_issuers.emplace_back(std::make_unique<ticket_issuer>());
            issuer->keys = tickets;
            issuer->policy = policy_digest(listener, policy, anchors);
            issuer->lifetime_s = config.session_ticket_lifetime_s;
            issuer->mode = policy.mode;
        }
    }
    for (std::size_t i = 0; i < config.certificates.size(); ++i) {
        const auto& cert = config.certificates[i];
        auto& row = sc->_contexts.emplace_back();
        for (std::size_t p = 0; p < sc->_policies.size(); ++p) {
            const auto& policy = sc->_policies[p];
            auto ctx = make_context(config, cert, policy, anchors,
                                    tickets ? sc->_issuers[p].get() : nullptr);
            if (!ctx) {
                return std::unexpected(ctx.error());
            }
            row.push_back(std::move(*ctx));
        }
        auto type = static_cast<std::size_t>(cert.type);
        int index = static_cast<int>(i);
        if (sc->_default.by_type[type] < 0) {
            sc->_default.by_type[type] = index;
        }
        for (const auto& name : cert.names) {
            auto& e = name.starts_with("*.") ? sc->_wildcard[name.substr(2)] : sc->_exact[name];
            if (e.by_type[type] < 0) {
                e.by_type[type] = index;
            }
        }
    }
    return sc;
}

std::optional<hello_refusal> server_context::refuse(const client_hello& hello) const {
    auto code = [](tls_version v) -> uint16_t {
        return v == tls_version::tls1_3 ? 0x0304 : 0x0303;
    };
    return refuse_hello(hello, code(_config.min_version), code(_config.max_version), _group_ids,
                        _suite_ids);
}

std::size_t server_context::policy_for(const std::string& name) const {
    if (name.empty()) {
        return _policy_no_name;
    }
    if (auto it = _policy_exact.find(name); it != _policy_exact.end()) {
        return it->second;
    }
    if (auto dot = name.find('.'); dot != std::string::npos) {
        if (auto w = _policy_wildcard.find(name.substr(dot + 1)); w != _policy_wildcard.end()) {
            return w->second;
        }
    }
    return 0;
}

selection server_context::select(const client_hello& hello) const {
    const entry* e = &_default;
    if (!hello.server_name.empty()) {
        if (auto it = _exact.find(hello.server_name); it != _exact.end()) {
            e = &it->second;
        } else if (auto dot = hello.server_name.find('.'); dot != std::string::npos) {
            if (auto w = _wildcard.find(hello.server_name.substr(dot + 1)); w != _wildcard.end()) {
                e = &w->second;
            }
        }
    }
    bool tls13 = hello.offers_tls13() && _config.max_version == tls_version::tls1_3;
    int ecdsa = e->by_type[static_cast<std::size_t>(key_type::ecdsa)];
    int rsa = e->by_type[static_cast<std::size_t>(key_type::rsa)];
    int chosen = (ecdsa >= 0 && (rsa < 0 || hello.accepts_ecdsa(tls13))) ? ecdsa : rsa;

    selection s;
    s.certificate_index = static_cast<std::size_t>(chosen);
    std::size_t policy = policy_for(hello.server_name);
    s.ctx = _contexts[s.certificate_index][policy].get();
    s.auth = &_policies[policy];
    s.type = _config.certificates[s.certificate_index].type;
    if (!hello.alpn.empty() && !_config.alpn.empty()) {
        for (const auto& mine : _config.alpn) {
            if (std::find(hello.alpn.begin(), hello.alpn.end(), mine) != hello.alpn.end()) {
                s.alpn = mine;
                break;
            }
        }
        s.alpn_mismatch = s.alpn.empty();
        s.server_alpn = _config.alpn;
    }
    return s;
}

}  // namespace tlsterm::tls
