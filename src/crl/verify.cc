#include "crl/verify.h"

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/signature.h>
// clang-format on

#include <algorithm>
#include <array>

#include "x509/der.h"
#include "x509/name.h"

namespace tlsterm::crl {

namespace {

struct sig_alg {
    std::array<uint8_t, 9> oid;
    std::size_t oid_len;
    bool ecdsa;
    wc_HashType hash;
    const char* name;
};

// ecdsa-with-SHA256/384/512 (1.2.840.10045.4.3.2-4) and
// sha256/384/512WithRSAEncryption (1.2.840.113549.1.1.11-13).
constexpr std::array<sig_alg, 6> algorithms = {{
    {{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02},
     8,
     true,
     WC_HASH_TYPE_SHA256,
     "ecdsa-with-SHA256"},
    {{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03},
     8,
     true,
     WC_HASH_TYPE_SHA384,
     "ecdsa-with-SHA384"},
    {{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04},
     8,
     true,
     WC_HASH_TYPE_SHA512,
     "ecdsa-with-SHA512"},
    {{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b},
     9,
     false,
     WC_HASH_TYPE_SHA256,
     "sha256WithRSAEncryption"},
    {{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c},
     9,
     false,
     WC_HASH_TYPE_SHA384,
     "sha384WithRSAEncryption"},
    {{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d},
     9,
     false,
     WC_HASH_TYPE_SHA512,
     "sha512WithRSAEncryption"},
}};

}  // namespace

namespace {

// Checks `signature` (made with the algorithm `alg_oid`) over `tbs` with the
// key of `issuer`; `what` names the signed object in errors.
std::expected<void, std::string> verify_signature(std::span<const uint8_t> tbs,
                                                  std::span<const uint8_t> alg_oid,
                                                  std::span<const uint8_t> signature,
                                                  const x509::certificate& issuer,
                                                  const char* what) {
    const sig_alg* alg = nullptr;
    for (const auto& a : algorithms) {
        if (std::ranges::equal(alg_oid, std::span(a.oid).first(a.oid_len))) {
            alg = &a;
        }
    }
    if (alg == nullptr) {
        return std::unexpected(std::string("unsupported ") + what +
                               " signature algorithm (ECDSA or RSA with SHA-2 expected)");
    }
    const auto tbs_len = static_cast<word32>(tbs.size());
    const auto sig_len = static_cast<word32>(signature.size());
    word32 idx = 0;
    int rc;
    if (alg->ecdsa) {
        ecc_key key;
        if (wc_ecc_init(&key) != 0) {
            return std::unexpected("out of memory");
        }
        rc = wc_EccPublicKeyDecode(issuer.spki_der.data(), &idx, &key,
                                   static_cast<word32>(issuer.spki_der.size()));
        if (rc == 0) {
            rc = wc_SignatureVerify(alg->hash, WC_SIGNATURE_TYPE_ECC, tbs.data(), tbs_len,
                                    signature.data(), sig_len, &key, sizeof(key));
        } else {
            wc_ecc_free(&key);
            return std::unexpected("CA " + x509::name_to_string(issuer.subject_der) +
                                   " has no EC key for a " + alg->name + " signature");
        }
        wc_ecc_free(&key);
    } else {
        RsaKey key;
        if (wc_InitRsaKey(&key, nullptr) != 0) {
            return std::unexpected("out of memory");
        }
        rc = wc_RsaPublicKeyDecode(issuer.spki_der.data(), &idx, &key,
                                   static_cast<word32>(issuer.spki_der.size()));
        if (rc == 0) {
            rc = wc_SignatureVerify(alg->hash, WC_SIGNATURE_TYPE_RSA_W_ENC, tbs.data(), tbs_len,
                                    signature.data(), sig_len, &key, sizeof(key));
        } else {
            wc_FreeRsaKey(&key);
            return std::unexpected("CA " + x509::name_to_string(issuer.subject_der) +
                                   " has no RSA key for a " + alg->name + " signature");
        }
        wc_FreeRsaKey(&key);
    }
    if (rc != 0) {
        return std::unexpected(std::string(alg->name) +
                               " signature does not verify with the key "
                               "of CA " +
                               x509::name_to_string(issuer.subject_der));
    }
    return {};
}

}  // namespace

std::expected<void, std::string> verify_crl_signature(const crl_summary& crl,
                                                      const x509::certificate& ca) {
    return verify_signature(crl.tbs_der, crl.signature_algorithm, crl.signature, ca, "CRL");
}

std::expected<void, std::string> verify_certificate_signature(std::span<const uint8_t> cert_der,
                                                              const x509::certificate& issuer) {
    auto parts = x509::split_certificate(cert_der);
    if (!parts) {
        return std::unexpected(parts.error());
    }
    return verify_signature(parts->tbs_der, parts->signature_algorithm, parts->signature, issuer,
                            "certificate");
}

}  // namespace tlsterm::crl
