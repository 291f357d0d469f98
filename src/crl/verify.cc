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

#include "crl/der.h"

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

struct attribute_name {
    std::array<uint8_t, 3> oid;  // 2.5.4.x
    const char* name;
};
constexpr std::array<attribute_name, 6> attribute_names = {{
    {{0x55, 0x04, 0x06}, "C"},
    {{0x55, 0x04, 0x08}, "ST"},
    {{0x55, 0x04, 0x07}, "L"},
    {{0x55, 0x04, 0x0a}, "O"},
    {{0x55, 0x04, 0x0b}, "OU"},
    {{0x55, 0x04, 0x03}, "CN"},
}};

}  // namespace

namespace {

// Calls fn(oid, value) for each attribute of a DER Name, in order. False
// when `name_der` is not a Name.
template <typename Fn>
bool for_each_attribute(std::span<const uint8_t> name_der, Fn&& fn) {
    der::reader top(name_der);
    auto name = top.next_if(der::tag_sequence);
    if (!name) {
        return false;
    }
    der::reader rdns(name->content);
    while (auto rdn = rdns.next_if(der::tag_set)) {
        der::reader atvs(rdn->content);
        while (auto atv = atvs.next_if(der::tag_sequence)) {
            der::reader fields(atv->content);
            auto oid = fields.next_if(der::tag_oid);
            auto value = fields.next();
            if (oid && value) {
                fn(oid->content, value->content);
            }
        }
    }
    return true;
}

constexpr std::array<uint8_t, 3> oid_common_name = {0x55, 0x04, 0x03};  // 2.5.4.3

std::string text(std::span<const uint8_t> b) {
    return std::string(b.begin(), b.end());
}

}  // namespace

std::string name_to_string(std::span<const uint8_t> name_der) {
    std::string out;
    bool ok = for_each_attribute(name_der, [&](auto oid, auto value) {
        std::string key = "?";
        for (const auto& a : attribute_names) {
            if (std::ranges::equal(oid, a.oid)) {
                key = a.name;
            }
        }
        out += "/" + key + "=" + text(value);
    });
    if (!ok) {
        return "(malformed name)";
    }
    return out.empty() ? "(empty name)" : out;
}

std::string common_name(std::span<const uint8_t> name_der) {
    std::string cn;
    for_each_attribute(name_der, [&](auto oid, auto value) {
        if (std::ranges::equal(oid, oid_common_name)) {
            cn = text(value);
        }
    });
    return cn;
}

namespace {

// Checks `signature` (made with the algorithm `alg_oid`) over `tbs` with the
// key of `issuer`; `what` names the signed object in errors.
std::expected<void, std::string> verify_signature(std::span<const uint8_t> tbs,
                                                  std::span<const uint8_t> alg_oid,
                                                  std::span<const uint8_t> signature,
                                                  const certificate& issuer, const char* what) {
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
            return std::unexpected("CA " + name_to_string(issuer.subject_der) +
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
            return std::unexpected("CA " + name_to_string(issuer.subject_der) +
                                   " has no RSA key for a " + alg->name + " signature");
        }
        wc_FreeRsaKey(&key);
    }
    if (rc != 0) {
        return std::unexpected(std::string(alg->name) +
                               " signature does not verify with the key "
                               "of CA " +
                               name_to_string(issuer.subject_der));
    }
    return {};
}

}  // namespace

std::expected<void, std::string> verify_crl_signature(const crl_summary& crl,
                                                      const certificate& ca) {
    return verify_signature(crl.tbs_der, crl.signature_algorithm, crl.signature, ca, "CRL");
}

std::expected<void, std::string> verify_certificate_signature(std::span<const uint8_t> cert_der,
                                                              const certificate& issuer) {
    auto parts = split_certificate(cert_der);
    if (!parts) {
        return std::unexpected(parts.error());
    }
    return verify_signature(parts->tbs_der, parts->signature_algorithm, parts->signature, issuer,
                            "certificate");
}

}  // namespace tlsterm::crl
