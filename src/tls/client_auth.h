// Client certificate verification: the policy of one listener or set of
// server names, and the check each handshake runs against it.
//
// wolfSSL builds and verifies the chain (signatures, validity, CA flags,
// depth) against the policy's CAs. tlsterm's verify callback then sees the
// verified chain and does the rest with its own code: a CRL lookup for every
// certificate below the trust anchor (crl/store.h, never wolfSSL's CRL
// store), the CRL staleness policy, and the allow-lists. Each refusal names
// its reason (cert_reject) and the certificate it concerns.
#pragma once

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
    std::vector<std::string> allow_subjects;
    std::vector<std::string> allow_sans;
    std::vector<std::optional<crl_rule>> by_ca;  // indexed like trust_anchors::cas
    crl_rule fallback;                           // issuers not in this policy's ca_files
    std::vector<std::size_t> anchors;            // CAs loaded into the TLS context

    static auth_policy make(const client_auth_config& c, const trust_anchors& t);
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

    // Records that a required certificate was missing.
    void note_no_certificate();

    const std::optional<rejection>& rejected() const { return _rejected; }
    bool verified() const { return _verified; }
    const std::string& subject() const { return _subject; }
    const std::string& serial() const { return _serial; }  // hex
    const std::string& common_name() const { return _common_name; }
    // A certificate was presented (whatever the verdict).
    bool presented() const { return _presented; }
    // Stale CRLs accepted under crl_stale = "warn" or within the grace window.
    const std::vector<std::string>& warnings() const { return _warnings; }

  private:
    std::vector<const crl::certificate*> path_to_anchor(
        const std::vector<crl::certificate>& sent) const;
    std::optional<rejection> check_revocation(const std::vector<const crl::certificate*>& path,
                                              std::time_t now);

    const auth_policy* _policy;
    std::shared_ptr<const crl::store> _crls;
    std::optional<rejection> _rejected;
    bool _verified = false;
    std::string _subject;
    std::string _serial;
    std::string _common_name;
    bool _presented = false;
    std::vector<std::string> _warnings;
};

// Configures a context to request client certificates per `policy`.
bool apply_policy(WOLFSSL_CTX* ctx, const auth_policy& policy, const trust_anchors& t);

// '*' matches any run of characters (including none); everything else itself.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace tlsterm::tls
