// Is this CRL signed by that CA? Checked when a CRL is loaded, so a CRL set
// only ever holds revocations its issuer really made. Also used for the
// certificates whose check tlsterm cannot leave to wolfSSL (X.509 v1 leaves). Uses wolfCrypt
// primitives (hash, ECDSA/RSA verify) directly: wolfSSL's CRL store is not
// involved.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "crl/crl_file.h"
#include "x509/certificate.h"

namespace tlsterm::crl {

// Checks the CRL's signature with the CA's key. ECDSA and RSA (PKCS#1 v1.5)
// with SHA-256/384/512 are supported; anything else is an error.
std::expected<void, std::string> verify_crl_signature(const crl_summary& crl,
                                                      const x509::certificate& ca);

// Checks a certificate's signature (its DER) with its issuer's key; the
// same algorithms.
std::expected<void, std::string> verify_certificate_signature(std::span<const uint8_t> cert_der,
                                                              const x509::certificate& issuer);

}  // namespace tlsterm::crl
