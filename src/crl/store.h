// The revocation state tlsterm checks client certificates against: every CRL
// it holds, verified and attributed to one of the configured CAs, indexed by
// that CA. A store is an immutable snapshot; a reload builds a new one and
// swaps it in (crl/manager.h), so readers never lock and never see a half
// built set.
//
// Per CA the store keeps the newest base CRL and the newest delta CRL that
// applies to it (the delta's base number is at most the base's number, RFC
// 5280 5.2.4). A serial is revoked when the delta lists it, or when the base
// lists it and the delta does not remove it (removeFromCRL).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "crl/serial_set.h"
#include "crl/verify.h"
#include "x509/certificate.h"

namespace tlsterm::crl {

// A CA certificate from the configured ca_files.
struct trusted_ca {
    x509::certificate cert;
};

// One CRL whose signature verified with its CA's key.
struct loaded_crl {
    std::string source;  // file path or URL, with "(CRL n)" for one of several in a file
    std::size_t ca = 0;  // index into the store's CA list
    std::time_t this_update = 0;
    std::optional<std::time_t> next_update;
    std::vector<uint8_t> number;  // cRLNumber; empty when absent
    bool is_delta = false;
    std::vector<uint8_t> delta_base;  // a delta's base cRLNumber
    std::size_t entries = 0;          // revokedCertificates entries
    serial_set revoked;               // revoked serials (a delta's removeFromCRL ones excluded)
    serial_set removed;               // a delta's removeFromCRL serials
};

using crl_list = std::vector<std::shared_ptr<const loaded_crl>>;

// Parses, attributes and verifies every CRL in `data` (the bytes of one file
// or one download). Each CRL must be issued and signed by one of `cas`.
// Errors are one phrase naming the CRL, e.g. "CRL 2: issued by /CN=x, which
// is not a configured CA". With `index_serials` false (a config check) the
// serial sets stay empty.
std::expected<crl_list, std::string> load_crls(std::string_view data, std::string_view source,
                                               std::span<const trusted_ca> cas,
                                               bool index_serials = true);

class store {
  public:
    using ca_list = std::shared_ptr<const std::vector<trusted_ca>>;

    // The CRLs in force for each CA; `crls` may hold several per CA.
    static std::shared_ptr<const store> build(ca_list cas, const crl_list& crls);

    const std::vector<trusted_ca>& cas() const { return *_cas; }
    // The configured CA whose subject is `c`'s issuer (and whose key id is
    // `c`'s authority key id when both are present).
    std::optional<std::size_t> find_issuer(const x509::certificate& c) const;

    struct in_force {
        const loaded_crl* base = nullptr;
        const loaded_crl* delta = nullptr;
    };
    const in_force& crls_of(std::size_t ca) const { return _in_force[ca]; }
    // The earliest nextUpdate of the CRLs in force; nullopt when they carry none.
    std::optional<std::time_t> next_update(std::size_t ca) const;

    enum class status : uint8_t { good, revoked, no_crl };
    struct answer {
        status result = status::no_crl;
        const loaded_crl* by = nullptr;  // the CRL that decided (revoked) or was consulted
    };
    answer check(std::size_t ca, std::span<const uint8_t> serial) const;

    // Entries and bytes over all CRLs in force, for logs and metrics.
    std::size_t total_entries() const;
    std::size_t memory_bytes() const;

  private:
    ca_list _cas;
    crl_list _crls;  // keeps the in-force pointers alive
    std::vector<in_force> _in_force;
    std::unordered_multimap<std::string, std::size_t> _by_subject;  // subject DER -> CA
};

// A CA from its DER certificate.
std::expected<trusted_ca, std::string> make_trusted_ca(std::span<const uint8_t> der);

}  // namespace tlsterm::crl
