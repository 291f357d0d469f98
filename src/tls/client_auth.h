// Client certificate verification: the policy of one listener or set of
// server names, and the check each handshake runs against it.
//
// wolfSSL builds and verifies the chain (signatures, validity, CA flags,
// depth) against the policy's CAs. tlsterm's verify callback then sees the
// verified chain and does the rest with its own code: a CRL lookup for every
// certificate below the trust anchor (crl/store.h, never wolfSSL's CRL
// store), the CRL staleness policy, and the allow-lists. Each refusal names
// its reason (cert_reject) and the certificate it concerns.
//
// X.509 v1 leaves: wolfSSL verifies them like any other, then reports
// ASN_VERSION_E as an error the callback may override. tlsterm overrides it
// only for a leaf its own parser reads as v1/v2 without extensions (a v1
// with extensions fails wolfSSL's parse with the same code, unverified) and
// whose signature it checks itself against the issuer on its path; unless
// the policy says require_x509v3. A v1 intermediate is never a CA to
// wolfSSL, so it can only be an anchor, by being configured in ca_files.
//
// The trust boundary: whether a finished handshake is authenticated is
// decided by authentication_gap() from the verifier's own facts (a chain
// this handshake's callback verified), never from what wolfSSL did or did
// not call.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <expected>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <tlsterm/config.h>
#include <tlsterm/counters.h>

#include "crl/store.h"
#include "tls/wolfssl.h"

namespace tlsterm::tls {

// Every CA named by any ca_files of the config, once, in the order the CRL
// store indexes them, and which of them each file holds.
struct trust_anchors {
    std::shared_ptr<std::vector<crl::trusted_ca>> cas =
        std::make_shared<std::vector<crl::trusted_ca>>();
    std::vector<std::vector<uint8_t>> ders;  // parallel to *cas
    std::map<std::filesystem::path, std::vector<std::size_t>> by_file;

    // Adds the CAs of one ca_files bundle (`pem` is its text), each CA once
    // whatever file names it; a path already added is skipped. Errors name
    // the file. Complete the list before a CRL store shares it.
    std::expected<void, std::string> add_file(const std::filesystem::path& path,
                                              std::string_view pem);
};

// Reads and checks every ca_files entry. Errors name the file.
std::expected<trust_anchors, std::string> load_trust_anchors(const config& c);

// One client_auth_config bound to the CA indexes of trust_anchors.
struct auth_policy {
    struct crl_rule {
        crl_policy policy = crl_policy::optional;
        stale_crl_policy stale = stale_crl_policy::reject;
        uint32_t grace_s = 0;
    };
    client_auth_mode mode = client_auth_mode::none;
    uint32_t verify_depth = 4;
    bool require_x509v3 = false;
    std::vector<std::string> allow_subjects;
    std::vector<std::string> allow_sans;
    std::vector<std::optional<crl_rule>> by_ca;  // indexed like trust_anchors::cas
    crl_rule fallback;                           // issuers not in this policy's ca_files
    std::vector<std::size_t> anchors;            // CAs loaded into the TLS context

    static auth_policy make(const client_auth_config& c, const trust_anchors& t);
};

// A client certificate that passed every check: the chain as the client
// sent it (DER, leaf first), parsed, and the facts logs and identity
// headers use. Shared by the connection that verified it and the
// identity cache its tickets refer to; never changed after creation.
struct verified_identity {
    std::array<uint8_t, 32> leaf_sha256{};
    std::vector<std::vector<uint8_t>> chain;
    std::vector<x509::certificate> parsed;  // parallel to chain
    int x509_version = 0;
    std::string subject;
    std::string serial;  // hex
    std::string common_name;
};

struct rejection {
    cert_reject reason = cert_reject::invalid;
    std::string detail;  // one phrase naming the certificate (serial, subject) and cause
};

// What one handshake learned about its client's certificate. Lives in the
// TLS session; wolfSSL reaches it through the verify callback's context.
class client_verifier {
  public:
    client_verifier(const auth_policy& policy, std::shared_ptr<const crl::store> crls)
        : _policy(&policy), _crls(std::move(crls)) {}

    // The WOLFSSL verify callback: installed on contexts that request
    // certificates, with a client_verifier as the session's callback context.
    static int verify_callback(int preverify_ok, WOLFSSL_X509_STORE_CTX* store);

    // The checks after wolfSSL accepted a chain (leaf first, DER), at `now`.
    // Also records the leaf's identity when the chain passes.
    std::optional<rejection> check_chain(std::span<const std::span<const uint8_t>> chain,
                                         std::time_t now);

    // Resumption: the checks a full handshake would run now, on an identity
    // an earlier handshake verified (its chain is not sent again): its CA
    // still among this policy's, every certificate of its path within its
    // validity, nothing revoked by the CRLs in force, the allow-lists. Then
    // the identity stands ready for conclude(); nothing else changes.
    std::optional<rejection> check_restored(std::shared_ptr<const verified_identity> id,
                                            std::time_t now);
    // Drops what check_restored() accepted (another ticket is opened).
    void clear_restored() { _restored.reset(); }
    // The handshake finished (resumed or not): the identity it authenticated
    // is the chain it verified, or, resumed, the one check_restored()
    // accepted; the other is dropped.
    void conclude(bool resumed);
    // The identity a ticket issued now would carry (before conclude()).
    std::shared_ptr<const verified_identity> ticket_identity(bool resumed) const;

    // Records that a required certificate was missing.
    void note_no_certificate();

    const std::optional<rejection>& rejected() const { return _rejected; }
    // A chain passed every check in this handshake's verify callback, or
    // (after conclude) a resumed session's identity passed check_restored.
    bool verified() const { return _verified; }
    // The session was resumed with a ticket's identity (after conclude).
    bool restored() const { return _verified && _from_ticket; }
    const std::shared_ptr<const verified_identity>& identity() const { return _identity; }
    // The verified leaf: its X.509 version (1-3) and SHA-256 of its DER.
    int x509_version() const { return _identity ? _identity->x509_version : 0; }
    const std::array<uint8_t, 32>& leaf_sha256() const;
    const std::string& subject() const;
    const std::string& serial() const;  // hex
    const std::string& common_name() const;
    // A certificate was presented (whatever the verdict).
    bool presented() const { return _presented; }
    // Stale CRLs accepted under crl_stale = "warn" or within the grace window.
    const std::vector<std::string>& warnings() const { return _warnings; }

    // The v1/v2 leaf case of the callback: nullopt when wolfSSL's
    // ASN_VERSION_E may be overridden for `chain` (leaf first).
    std::optional<rejection> check_legacy_leaf(std::span<const std::span<const uint8_t>> chain);

  private:
    std::vector<const x509::certificate*> path_to_anchor(
        const std::vector<x509::certificate>& sent) const;
    std::optional<rejection> check_revocation(const std::vector<const x509::certificate*>& path,
                                              std::time_t now);
    // Usage, depth, revocation and allow-lists of a parsed chain.
    std::optional<rejection> check_path(const std::vector<x509::certificate>& sent,
                                        std::time_t now);

    const auth_policy* _policy;
    std::shared_ptr<const crl::store> _crls;
    std::optional<rejection> _rejected;
    bool _verified = false;
    bool _from_ticket = false;
    std::shared_ptr<const verified_identity> _identity;  // from this handshake's chain
    std::shared_ptr<const verified_identity> _restored;  // from a ticket, until conclude()
    bool _presented = false;
    std::vector<std::string> _warnings;
};

// Why a finished handshake may not carry traffic under `mode`, or nullopt
// when it may: `verifier` is the handshake's (nullptr when none was
// installed), `resumed` whether wolfSSL resumed a session. "require" needs a
// chain verified in this handshake, or, resumed, an identity restored from
// a ticket tlsterm sealed and checked again now; "optional" one verified if
// any was presented; a verdict wolfSSL ignored fails either.
std::optional<std::string> authentication_gap(client_auth_mode mode,
                                              const client_verifier* verifier, bool resumed);

// True the first time this process sees a certificate with this SHA-256,
// for messages logged once per certificate. Shared by every shard behind a
// mutex, taken only for the rare certificates that need such a message;
// remembers 4096 certificates, and then reports none as new.
bool first_sighting(const std::array<uint8_t, 32>& sha256);

// Configures a context to request client certificates per `policy`.
bool apply_policy(WOLFSSL_CTX* ctx, const auth_policy& policy, const trust_anchors& t);

// "serial 1A2B (/O=../CN=..)" for a DER certificate, for log lines.
std::string describe_certificate(std::span<const uint8_t> der);

// '*' matches any run of characters (including none); everything else itself.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace tlsterm::tls
