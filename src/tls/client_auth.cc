#include "tls/client_auth.h"

#include <algorithm>
#include <mutex>
#include <set>

#include "common/file.h"
#include "common/log.h"
#include "crl/verify.h"
#include "tls/credentials.h"
#include "x509/certificate.h"
#include "x509/name.h"

#include <wolfssl/wolfcrypt/sha256.h>

namespace tlsterm::tls {

namespace {

std::string describe(const x509::certificate& c) {
    return "serial " + x509::serial_hex(c.serial) + " (" + x509::name_to_string(c.subject_der) +
           ")";
}

// wolfSSL's verdict on a chain, as a reason.
cert_reject classify(int error) {
    switch (error) {
        case ASN_NO_SIGNER_E:
        case ASN_SELF_SIGNED_E:
            return cert_reject::unknown_ca;
        case ASN_AFTER_DATE_E:
            return cert_reject::expired;
        case ASN_BEFORE_DATE_E:
            return cert_reject::not_yet_valid;
        case ASN_SIG_CONFIRM_E:
        case ASN_SIG_OID_E:
        case ASN_SIG_HASH_E:
        case ASN_SIG_KEY_E:
            return cert_reject::bad_signature;
        case KEYUSE_SIGNATURE_E:
        case KEYUSE_ENCIPHER_E:
        case EXTKEYUSE_AUTH_E:
            return cert_reject::wrong_usage;
        case MAX_CHAIN_ERROR:
        case ASN_PATHLEN_SIZE_E:
        case ASN_PATHLEN_INV_E:
            return cert_reject::chain_too_long;
        default:
            return cert_reject::invalid;
    }
}

// The issuer of `c` among the client's certificates (not yet on the path).
const x509::certificate* issuer_among(const x509::certificate& c,
                                      const std::vector<x509::certificate>& sent,
                                      const std::vector<const x509::certificate*>& path) {
    for (const auto& s : sent) {
        if (s.subject_der != c.issuer_der || std::ranges::find(path, &s) != path.end()) {
            continue;
        }
        if (!c.authority_key_id.empty() && !s.subject_key_id.empty() &&
            c.authority_key_id != s.subject_key_id) {
            continue;
        }
        return &s;
    }
    return nullptr;
}

}  // namespace

std::string describe_certificate(std::span<const uint8_t> der) {
    auto c = x509::parse_certificate(der);
    return c ? describe(*c) : "(unreadable: " + c.error() + ")";
}

bool glob_match(std::string_view p, std::string_view t) {
    // Iterative matching with one backtrack point: linear in practice.
    std::size_t pi = 0;
    std::size_t ti = 0;
    std::size_t star = std::string_view::npos;
    std::size_t mark = 0;
    while (ti < t.size()) {
        if (pi < p.size() && p[pi] == '*') {
            star = pi++;
            mark = ti;
        } else if (pi < p.size() && p[pi] == t[ti]) {
            ++pi;
            ++ti;
        } else if (star != std::string_view::npos) {
            pi = star + 1;
            ti = ++mark;
        } else {
            return false;
        }
    }
    while (pi < p.size() && p[pi] == '*') {
        ++pi;
    }
    return pi == p.size();
}

std::expected<void, std::string> trust_anchors::add_file(const std::filesystem::path& path,
                                                         std::string_view pem) {
    if (by_file.contains(path)) {
        return {};
    }
    auto bundle = check_ca_bundle(pem);
    if (!bundle) {
        return std::unexpected(path.string() + ": " + bundle.error());
    }
    auto& indexes = by_file[path];
    for (auto& der : *bundle) {
        if (auto found = std::ranges::find(ders, der); found != ders.end()) {
            indexes.push_back(static_cast<std::size_t>(found - ders.begin()));
            continue;
        }
        auto ca = crl::make_trusted_ca(der);
        if (!ca) {
            return std::unexpected(path.string() + ": " + ca.error());
        }
        indexes.push_back(cas->size());
        cas->push_back(std::move(*ca));
        ders.push_back(std::move(der));
    }
    return {};
}

std::expected<trust_anchors, std::string> load_trust_anchors(const config& c) {
    trust_anchors t;
    auto add_file = [&](const ca_file_config& f) -> std::expected<void, std::string> {
        if (t.by_file.contains(f.file.path)) {
            return {};
        }
        auto text = read_file(f.file.path);
        if (!text) {
            return std::unexpected(text.error());
        }
        return t.add_file(f.file.path, *text);
    };
    for (const auto& l : c.listeners) {
        std::vector<const client_auth_config*> auths{&l.tls.client_auth};
        for (const auto& s : l.tls.sni) {
            auths.push_back(&s.auth);
        }
        for (const auto* a : auths) {
            for (const auto& f : a->ca_files) {
                if (auto ok = add_file(f); !ok) {
                    return std::unexpected(ok.error());
                }
            }
        }
    }
    return t;
}

auth_policy auth_policy::make(const client_auth_config& c, const trust_anchors& t) {
    auth_policy p;
    p.mode = c.mode;
    p.verify_depth = c.verify_depth;
    p.require_x509v3 = c.require_x509v3;
    p.allow_subjects = c.allow_subjects;
    p.allow_sans = c.allow_sans;
    p.fallback = {c.crl, c.stale, c.grace_s};
    p.by_ca.resize(t.cas->size());
    for (const auto& f : c.ca_files) {
        auto it = t.by_file.find(f.file.path);
        if (it == t.by_file.end()) {
            continue;
        }
        for (std::size_t i : it->second) {
            if (!p.by_ca[i]) {
                p.by_ca[i] = crl_rule{f.crl, f.stale, f.grace_s};
                p.anchors.push_back(i);
            }
        }
    }
    return p;
}

bool apply_policy(WOLFSSL_CTX* ctx, const auth_policy& policy, const trust_anchors& t) {
    if (policy.mode == client_auth_mode::none) {
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, nullptr);
        return true;
    }
    for (std::size_t i : policy.anchors) {
        const auto& der = t.ders[i];
        if (wolfSSL_CTX_load_verify_buffer(ctx, der.data(), static_cast<long>(der.size()),
                                           WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
            return false;
        }
    }
    int mode = WOLFSSL_VERIFY_PEER;
    if (policy.mode == client_auth_mode::require) {
        mode |= WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    wolfSSL_CTX_set_verify(ctx, mode, &client_verifier::verify_callback);
    wolfSSL_CTX_set_verify_depth(ctx, static_cast<int>(policy.verify_depth));
    return true;
}

int client_verifier::verify_callback(int preverify_ok, WOLFSSL_X509_STORE_CTX* store) {
    auto* v = static_cast<client_verifier*>(store->userCtx);
    if (v == nullptr) {
        return 0;  // a verifying context always has a verifier; never accept blind
    }
    if (v->_rejected) {
        return 0;  // an earlier certificate of this chain failed: so does the rest
    }
    if (store->totalCerts <= 0) {
        // An empty Certificate message: fine when optional.
        if (v->_policy->mode == client_auth_mode::optional) {
            return 1;
        }
        v->note_no_certificate();
        return 0;
    }
    std::vector<std::span<const uint8_t>> chain;
    for (int i = 0; i < store->totalCerts; ++i) {
        chain.emplace_back(store->certs[i].buffer, store->certs[i].length);
    }
    if (preverify_ok == 0 && store->error == ASN_VERSION_E && store->error_depth == 0) {
        // A leaf wolfSSL verified but flags for its version, or one it
        // could not parse: check_legacy_leaf tells them apart.
        if (auto r = v->check_legacy_leaf(chain)) {
            v->_presented = true;
            v->_rejected = std::move(r);
            return 0;
        }
        preverify_ok = 1;
    }
    if (preverify_ok == 0) {
        v->_presented = true;
        rejection r{classify(store->error), ""};
        auto depth = static_cast<std::size_t>(std::max(store->error_depth, 0));
        auto cert = depth < chain.size() ? x509::parse_certificate(chain[depth])
                                         : std::unexpected(std::string("absent"));
        char text[WOLFSSL_MAX_ERROR_SZ] = {};
        wolfSSL_ERR_error_string_n(static_cast<unsigned long>(store->error), text, sizeof(text));
        r.detail = (cert ? "certificate " + describe(*cert) : "certificate") + " at depth " +
                   std::to_string(depth) + ": " + text;
        v->_rejected = std::move(r);
        return 0;
    }
    if (store->error_depth != 0) {
        return 1;  // an intermediate: the whole chain is checked at the leaf
    }
    if (auto r = v->check_chain(chain, std::time(nullptr))) {
        v->_rejected = std::move(r);
        return 0;
    }
    return 1;
}

std::optional<rejection> client_verifier::check_legacy_leaf(
    std::span<const std::span<const uint8_t>> chain) {
    std::vector<x509::certificate> sent;
    for (const auto& der : chain) {
        auto c = x509::parse_certificate(der);
        if (!c) {
            return rejection{cert_reject::invalid, "certificate " + std::to_string(sent.size()) +
                                                       " of the chain: " + c.error()};
        }
        sent.push_back(std::move(*c));
    }
    const x509::certificate& leaf = sent[0];
    if (leaf.version >= 3 || leaf.has_extensions) {
        // Not the overridable case: a v1/v2 certificate with extensions,
        // which wolfSSL refuses before checking its signature.
        return rejection{cert_reject::invalid, "certificate " + describe(leaf) + ": X.509 v" +
                                                   std::to_string(leaf.version) +
                                                   " with extensions (ASN version error)"};
    }
    if (_policy->require_x509v3) {
        return rejection{cert_reject::not_x509v3, "certificate " + describe(leaf) + " is X.509 v" +
                                                      std::to_string(leaf.version) +
                                                      " and require_x509v3 = true"};
    }
    // wolfSSL verified this signature; tlsterm checks it too rather than
    // infer that from an error code.
    std::vector<const x509::certificate*> path = path_to_anchor(sent);
    const x509::certificate* issuer = path.size() >= 2 ? path[1] : nullptr;
    if (issuer == nullptr && leaf.self_issued()) {
        issuer = &leaf;  // a self-signed leaf: only as a configured CA (below)
    }
    if (issuer == nullptr) {
        return rejection{cert_reject::unknown_ca,
                         "certificate " + describe(leaf) + ": no configured CA issued it"};
    }
    if (issuer == &leaf && !_crls->find_issuer(leaf)) {
        return rejection{cert_reject::unknown_ca,
                         "certificate " + describe(leaf) + ": self-signed and not in ca_files"};
    }
    if (auto ok = crl::verify_certificate_signature(chain[0], *issuer); !ok) {
        return rejection{cert_reject::bad_signature,
                         "certificate " + describe(leaf) + ": " + ok.error()};
    }
    return std::nullopt;
}

void client_verifier::note_no_certificate() {
    if (!_rejected) {
        _rejected = rejection{cert_reject::no_certificate,
                              "client_auth = \"require\" and the client sent no certificate"};
    }
}

std::optional<rejection> client_verifier::check_chain(
    std::span<const std::span<const uint8_t>> chain, std::time_t now) {
    if (chain.empty()) {
        return rejection{cert_reject::no_certificate, "no certificate in the chain"};
    }
    _presented = true;
    auto id = std::make_shared<verified_identity>();
    for (std::size_t i = 0; i < chain.size(); ++i) {
        auto c = x509::parse_certificate(chain[i]);
        if (!c) {
            return rejection{cert_reject::invalid,
                             "certificate " + std::to_string(i) + " of the chain: " + c.error()};
        }
        id->parsed.push_back(std::move(*c));
    }
    if (auto r = check_path(id->parsed, now)) {
        return r;
    }
    const x509::certificate& leaf = id->parsed[0];
    for (const auto& der : chain) {
        id->chain.emplace_back(der.begin(), der.end());
    }
    id->x509_version = leaf.version;
    wc_Sha256Hash(chain[0].data(), static_cast<word32>(chain[0].size()), id->leaf_sha256.data());
    id->subject = x509::name_to_string(leaf.subject_der);
    id->serial = x509::serial_hex(leaf.serial);
    id->common_name = x509::common_name(leaf.subject_der);
    _identity = std::move(id);
    _verified = true;
    return std::nullopt;
}

std::optional<rejection> client_verifier::check_path(const std::vector<x509::certificate>& sent,
                                                     std::time_t now) {
    std::vector<const x509::certificate*> path = path_to_anchor(sent);
    const x509::certificate& leaf = sent[0];
    // wolfSSL checks these on TLS 1.2 only; tlsterm on every version.
    if (std::string why = leaf.client_auth_refusal(); !why.empty()) {
        return rejection{cert_reject::wrong_usage, "certificate " + describe(leaf) + " " + why};
    }
    std::size_t intermediates = path.size() >= 2 ? path.size() - 2 : 0;
    if (intermediates > _policy->verify_depth) {
        return rejection{cert_reject::chain_too_long, "certificate " + describe(leaf) + ": " +
                                                          std::to_string(intermediates) +
                                                          " intermediates, verify_depth is " +
                                                          std::to_string(_policy->verify_depth)};
    }
    if (auto r = check_revocation(path, now); r) {
        return r;
    }
    std::string subject = x509::name_to_string(leaf.subject_der);
    if (!_policy->allow_subjects.empty() || !_policy->allow_sans.empty()) {
        bool allowed = std::ranges::any_of(
            _policy->allow_subjects, [&](const std::string& p) { return glob_match(p, subject); });
        for (const auto* names : {&leaf.dns_names, &leaf.emails, &leaf.uris}) {
            for (const auto& n : *names) {
                allowed = allowed || std::ranges::any_of(
                                         _policy->allow_sans,
                                         [&](const std::string& p) { return glob_match(p, n); });
            }
        }
        if (!allowed) {
            return rejection{cert_reject::not_allowed,
                             "certificate " + describe(leaf) +
                                 " matches no allow_subjects or allow_sans pattern"};
        }
    }
    return std::nullopt;
}

std::optional<rejection> client_verifier::check_restored(
    std::shared_ptr<const verified_identity> id, std::time_t now) {
    if (!id || id->parsed.empty()) {
        return rejection{cert_reject::invalid, "no identity to restore"};
    }
    const x509::certificate& leaf = id->parsed[0];
    // Its CA must be one this policy trusts now: the first certificate of
    // the path whose issuer is a configured CA names it.
    std::vector<const x509::certificate*> path = path_to_anchor(id->parsed);
    bool anchored = false;
    for (const x509::certificate* c : path) {
        auto ca = _crls->find_issuer(*c);
        if (ca) {
            anchored = *ca < _policy->by_ca.size() && _policy->by_ca[*ca].has_value();
            break;
        }
    }
    if (!anchored) {
        return rejection{cert_reject::unknown_ca,
                         "certificate " + describe(leaf) + ": its CA is no longer configured"};
    }
    for (const x509::certificate* c : path) {
        if (now > c->not_after) {
            return rejection{cert_reject::expired, "certificate " + describe(*c) + " expired at " +
                                                       log::utc(c->not_after)};
        }
        if (now < c->not_before) {
            return rejection{
                cert_reject::not_yet_valid,
                "certificate " + describe(*c) + " is not valid before " + log::utc(c->not_before)};
        }
    }
    std::size_t warned = _warnings.size();
    if (auto r = check_path(id->parsed, now)) {
        _warnings.resize(warned);
        return r;
    }
    _restored = std::move(id);
    return std::nullopt;
}

void client_verifier::conclude(bool resumed) {
    if (!resumed) {
        _restored.reset();
        return;
    }
    // A resumed handshake carries no certificate: what it authenticated is
    // the ticket's identity, checked again by check_restored (or none).
    _identity = std::move(_restored);
    _restored.reset();
    _verified = _identity != nullptr;
    _presented = _verified;
    _from_ticket = _verified;
}

std::shared_ptr<const verified_identity> client_verifier::ticket_identity(bool resumed) const {
    if (resumed) {
        return _restored ? _restored : (_from_ticket ? _identity : nullptr);
    }
    return _verified && !_rejected ? _identity : nullptr;
}

const std::array<uint8_t, 32>& client_verifier::leaf_sha256() const {
    static const std::array<uint8_t, 32> none{};
    return _identity ? _identity->leaf_sha256 : none;
}

const std::string& client_verifier::subject() const {
    static const std::string none;
    return _identity ? _identity->subject : none;
}

const std::string& client_verifier::serial() const {
    static const std::string none;
    return _identity ? _identity->serial : none;
}

const std::string& client_verifier::common_name() const {
    static const std::string none;
    return _identity ? _identity->common_name : none;
}

bool first_sighting(const std::array<uint8_t, 32>& sha256) {
    static std::mutex lock;
    static std::set<std::array<uint8_t, 32>> seen;  // guarded by lock
    constexpr std::size_t capacity = 4096;
    std::lock_guard<std::mutex> hold(lock);
    if (seen.size() >= capacity) {
        return false;
    }
    return seen.insert(sha256).second;
}

std::optional<std::string> authentication_gap(client_auth_mode mode,
                                              const client_verifier* verifier, bool resumed) {
    if (mode == client_auth_mode::none) {
        return std::nullopt;
    }
    if (verifier == nullptr) {
        return "no certificate verifier was installed for this handshake";
    }
    if (verifier->rejected()) {
        return "the handshake completed although its client certificate was rejected (" +
               std::string(to_string(verifier->rejected()->reason)) + ")";
    }
    if (resumed && verifier->verified() && !verifier->restored()) {
        return std::string(
            "the session was resumed but its client identity was not restored from a ticket "
            "tlsterm sealed");
    }
    if (mode == client_auth_mode::require && !verifier->verified()) {
        return resumed ? std::string(
                             "client_auth = \"require\" and the session was resumed: no "
                             "certificate was verified in this handshake")
                       : std::string(
                             "client_auth = \"require\" and no certificate was verified "
                             "in this handshake");
    }
    if (verifier->presented() && !verifier->verified()) {
        return std::string("a client certificate was presented but not verified");
    }
    return std::nullopt;
}

std::vector<const x509::certificate*> client_verifier::path_to_anchor(
    const std::vector<x509::certificate>& sent) const {
    // The client's certificates, continued by the configured CAs where the
    // client stopped, up to a self-issued anchor (or the last configured CA).
    std::vector<const x509::certificate*> path{&sent[0]};
    while (!path.back()->self_issued() && path.size() <= 17) {
        const x509::certificate* next = issuer_among(*path.back(), sent, path);
        if (next == nullptr) {
            auto ca = _crls->find_issuer(*path.back());
            if (!ca || std::ranges::find(path, &_crls->cas()[*ca].cert) != path.end()) {
                break;
            }
            next = &_crls->cas()[*ca].cert;
        }
        path.push_back(next);
    }
    return path;
}

std::optional<rejection> client_verifier::check_revocation(
    const std::vector<const x509::certificate*>& path, std::time_t now) {
    // Top down, so a revoked intermediate is reported before its leaves.
    for (std::size_t i = path.size(); i-- > 0;) {
        const x509::certificate& c = *path[i];
        bool leaf = i == 0;
        auto ca = _crls->find_issuer(c);
        if (c.self_issued() || (!leaf && i + 1 == path.size() && !ca)) {
            // The anchor itself: a root, or a configured CA trusted without
            // its issuer. Nothing above it can revoke it.
            continue;
        }
        auth_policy::crl_rule rule = _policy->fallback;
        if (ca && *ca < _policy->by_ca.size() && _policy->by_ca[*ca]) {
            rule = *_policy->by_ca[*ca];
        }
        if (rule.policy == crl_policy::leaf_only && !leaf) {
            continue;
        }
        std::string issuer = x509::name_to_string(c.issuer_der);
        auto answer = ca ? _crls->check(*ca, c.serial) : crl::store::answer{};
        if (answer.result == crl::store::status::no_crl) {
            if (rule.policy == crl_policy::optional) {
                continue;
            }
            return rejection{cert_reject::missing_crl,
                             "certificate " + describe(c) + ": no CRL held for its issuer " +
                                 issuer + " (crl_policy \"" + std::string(to_string(rule.policy)) +
                                 "\")"};
        }
        if (answer.result == crl::store::status::revoked) {
            return rejection{cert_reject::revoked, "certificate " + describe(c) +
                                                       " is revoked by CRL " + answer.by->source +
                                                       " of " + issuer};
        }
        auto next_update = _crls->next_update(*ca);
        if (!next_update || now <= *next_update) {
            continue;
        }
        std::string stale = "CRL " + answer.by->source + " of " + issuer +
                            " is past its nextUpdate " + log::utc(*next_update);
        if (rule.stale == stale_crl_policy::reject ||
            (rule.stale == stale_crl_policy::grace &&
             now > *next_update + static_cast<std::time_t>(rule.grace_s))) {
            return rejection{cert_reject::stale_crl,
                             "certificate " + describe(c) + ": " + stale + " (crl_stale \"" +
                                 std::string(to_string(rule.stale)) + "\")"};
        }
        _warnings.push_back(stale + "; accepted certificate " + describe(c) + " (crl_stale \"" +
                            std::string(to_string(rule.stale)) + "\")");
    }
    return std::nullopt;
}

}  // namespace tlsterm::tls
