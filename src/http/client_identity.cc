#include "http/client_identity.h"

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>
// clang-format on

#include <array>

#include "x509/certificate.h"
#include "x509/name.h"

namespace tlsterm::http {

namespace {

constexpr std::array<std::string_view, 9> all_names = {
    "client-cert",     "client-cert-chain",    "x-forwarded-client-cert",
    "x-client-verify", "x-client-subject",     "x-client-issuer",
    "x-client-serial", "x-client-fingerprint", "x-client-cert"};

std::string base64(std::span<const uint8_t> in) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
        for (int shift = 18; shift >= 0; shift -= 6) {
            out += alphabet[(v >> shift) & 63];
        }
    }
    if (i < in.size()) {
        uint32_t v = uint32_t{in[i]} << 16;
        if (i + 1 < in.size()) {
            v |= uint32_t{in[i + 1]} << 8;
        }
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += i + 1 < in.size() ? alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string pem(std::span<const uint8_t> der) {
    std::string b64 = base64(der);
    std::string out = "-----BEGIN CERTIFICATE-----\n";
    for (std::size_t i = 0; i < b64.size(); i += 64) {
        out += b64.substr(i, 64) + "\n";
    }
    return out + "-----END CERTIFICATE-----\n";
}

std::string sha256_hex(std::span<const uint8_t> der) {
    std::array<uint8_t, WC_SHA256_DIGEST_SIZE> digest{};
    wc_Sha256Hash(der.data(), static_cast<word32>(der.size()), digest.data());
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (uint8_t b : digest) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

// An XFCC value: quoted (as Envoy always does for Cert and Subject, and
// must for anything holding a separator), with quotes escaped.
std::string xfcc_value(std::string_view v, bool always_quote = false) {
    if (!always_quote && v.find_first_of(",;=\"") == std::string_view::npos) {
        return std::string(v);
    }
    std::string out = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "\"";
}

}  // namespace

std::string url_encode(std::string_view s) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += digits[c >> 4];
            out += digits[c & 15];
        }
    }
    return out;
}

std::span<const std::string_view> identity_header_names() {
    return all_names;
}

std::vector<header_field> identity_headers(identity_format format, const client_identity& id) {
    std::vector<header_field> out;
    if (format == identity_format::none) {
        return out;
    }
    bool usable = id.presented && id.verified && !id.leaf_der.empty();
    if (format == identity_format::fields) {
        std::string verify = usable ? "SUCCESS"
                             : id.presented
                                 ? "FAILED:" + (id.failure.empty() ? "unknown" : id.failure)
                                 : "NONE";
        out.push_back({"X-Client-Verify", verify});
    }
    if (!usable) {
        return out;
    }
    auto cert = x509::parse_certificate(id.leaf_der);
    if (!cert) {
        return out;  // wolfSSL verified it; a parse failure here would be a reader bug
    }
    switch (format) {
        case identity_format::rfc9440: {
            out.push_back({"Client-Cert", ":" + base64(id.leaf_der) + ":"});
            std::string chain;
            for (const auto& c : id.chain_der) {
                chain += (chain.empty() ? ":" : ", :") + base64(c) + ":";
            }
            if (!chain.empty()) {
                out.push_back({"Client-Cert-Chain", chain});
            }
            break;
        }
        case identity_format::xfcc: {
            std::string v = "Hash=" + sha256_hex(id.leaf_der) +
                            ";Cert=" + xfcc_value(url_encode(pem(id.leaf_der)), true) +
                            ";Subject=" + xfcc_value(x509::name_to_string(cert->subject_der), true);
            for (const auto& u : cert->uris) {
                v += ";URI=" + xfcc_value(u);
            }
            for (const auto& d : cert->dns_names) {
                v += ";DNS=" + xfcc_value(d);
            }
            out.push_back({"X-Forwarded-Client-Cert", v});
            break;
        }
        case identity_format::fields:
            out.push_back({"X-Client-Subject", x509::name_to_string(cert->subject_der)});
            out.push_back({"X-Client-Issuer", x509::name_to_string(cert->issuer_der)});
            out.push_back({"X-Client-Serial", x509::serial_hex(cert->serial)});
            out.push_back({"X-Client-Fingerprint", sha256_hex(id.leaf_der)});
            out.push_back({"X-Client-Cert", url_encode(pem(id.leaf_der))});
            break;
        case identity_format::none:
            break;
    }
    return out;
}

}  // namespace tlsterm::http
