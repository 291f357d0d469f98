#include "x509/certificate.h"

#include <algorithm>
#include <array>

#include "x509/der.h"

namespace tlsterm::x509 {

std::span<const uint8_t> normalize_serial(std::span<const uint8_t> serial) {
    while (serial.size() > 1 && serial[0] == 0) {
        serial = serial.subspan(1);
    }
    return serial;
}

namespace {

constexpr std::array<uint8_t, 3> oid_subject_key_id = {0x55, 0x1d, 0x0e};     // 2.5.29.14
constexpr std::array<uint8_t, 3> oid_subject_alt_name = {0x55, 0x1d, 0x11};   // 2.5.29.17
constexpr std::array<uint8_t, 3> oid_basic_constraints = {0x55, 0x1d, 0x13};  // 2.5.29.19
constexpr std::array<uint8_t, 3> oid_crl_distribution = {0x55, 0x1d, 0x1f};   // 2.5.29.31
constexpr std::array<uint8_t, 3> oid_key_usage = {0x55, 0x1d, 0x0f};          // 2.5.29.15
constexpr std::array<uint8_t, 3> oid_ext_key_usage = {0x55, 0x1d, 0x25};      // 2.5.29.37
// id-kp-clientAuth (1.3.6.1.5.5.7.3.2) and anyExtendedKeyUsage (2.5.29.37.0)
constexpr std::array<uint8_t, 8> oid_kp_client_auth = {0x2b, 0x06, 0x01, 0x05,
                                                       0x05, 0x07, 0x03, 0x02};
constexpr std::array<uint8_t, 4> oid_any_eku = {0x55, 0x1d, 0x25, 0x00};
constexpr uint16_t key_usage_digital_signature = 1u << 0;

constexpr uint8_t general_name_email = 0x81;  // [1] rfc822Name
constexpr uint8_t general_name_dns = 0x82;    // [2] dNSName
constexpr uint8_t general_name_uri = 0x86;    // [6] uniformResourceIdentifier

std::string text(std::span<const uint8_t> b) {
    return std::string(b.begin(), b.end());
}

bool read_alt_names(std::span<const uint8_t> value, certificate& out) {
    der::reader top(value);
    auto names = top.next_if(der::tag_sequence);
    if (!names) {
        return false;
    }
    der::reader list(names->content);
    while (!list.empty()) {
        auto n = list.next();
        if (!n) {
            return false;
        }
        if (n->tag == general_name_dns) {
            out.dns_names.push_back(text(n->content));
        } else if (n->tag == general_name_email) {
            out.emails.push_back(text(n->content));
        } else if (n->tag == general_name_uri) {
            out.uris.push_back(text(n->content));
        }
    }
    return true;
}

// DistributionPoint { [0] distributionPoint { [0] fullName GeneralNames } }
bool read_distribution_points(std::span<const uint8_t> value, certificate& out) {
    der::reader top(value);
    auto points = top.next_if(der::tag_sequence);
    if (!points) {
        return false;
    }
    der::reader list(points->content);
    while (auto point = list.next_if(der::tag_sequence)) {
        der::reader fields(point->content);
        auto name = fields.next_if(der::tag_context_0);
        if (!name) {
            continue;
        }
        der::reader inner(name->content);
        auto full = inner.next_if(der::tag_context_0);
        if (!full) {
            continue;  // nameRelativeToCRLIssuer: not a URL
        }
        der::reader general(full->content);
        while (auto g = general.next()) {
            std::string url = text(g->content);
            if (g->tag == general_name_uri && url.starts_with("http://")) {
                out.crl_urls.push_back(std::move(url));
            }
        }
    }
    return list.empty();
}

}  // namespace

std::expected<signed_parts, std::string> split_certificate(std::span<const uint8_t> der) {
    der::reader top(der);
    auto cert = top.next_if(der::tag_sequence);
    if (!cert) {
        return std::unexpected("not a DER certificate");
    }
    der::reader c(cert->content);
    auto tbs = c.next_if(der::tag_sequence);
    auto alg = c.next_if(der::tag_sequence);
    auto sig = c.next_if(der::tag_bit_string);
    if (!tbs || !alg || !sig || sig->content.empty() || sig->content[0] != 0 || !c.empty()) {
        return std::unexpected("malformed certificate");
    }
    der::reader a(alg->content);
    auto oid = a.next_if(der::tag_oid);
    if (!oid) {
        return std::unexpected("malformed certificate signature algorithm");
    }
    return signed_parts{tbs->whole, oid->content, sig->content.subspan(1)};
}

std::expected<certificate, std::string> parse_certificate(std::span<const uint8_t> der) {
    auto parts = split_certificate(der);
    if (!parts) {
        return std::unexpected(parts.error());
    }
    der::reader whole_tbs(parts->tbs_der);
    auto tbs = whole_tbs.next_if(der::tag_sequence);
    if (!tbs) {
        return std::unexpected("certificate without tbsCertificate");
    }
    der::reader t(tbs->content);
    int version = 1;  // DEFAULT v1: absent
    if (auto v = t.next_if(der::tag_context_0)) {
        der::reader vr(v->content);
        auto n = vr.next_if(der::tag_integer);
        if (!n || n->content.size() != 1 || n->content[0] > 2 || !vr.empty()) {
            return std::unexpected("malformed certificate version");
        }
        version = n->content[0] + 1;
    }
    auto serial = t.next_if(der::tag_integer);
    auto signature = t.next_if(der::tag_sequence);
    auto issuer = t.next_if(der::tag_sequence);
    auto validity = t.next_if(der::tag_sequence);
    auto subject = t.next_if(der::tag_sequence);
    auto spki = t.next_if(der::tag_sequence);
    if (!serial || serial->content.empty() || !signature || !issuer || !validity || !subject ||
        !spki) {
        return std::unexpected("malformed tbsCertificate");
    }
    certificate out;
    out.version = version;
    auto s = normalize_serial(serial->content);
    out.serial.assign(s.begin(), s.end());
    out.issuer_der.assign(issuer->whole.begin(), issuer->whole.end());
    out.subject_der.assign(subject->whole.begin(), subject->whole.end());
    out.spki_der.assign(spki->whole.begin(), spki->whole.end());
    {
        der::reader v(validity->content);
        auto nb = v.next();
        auto na = v.next();
        auto from = nb ? der::parse_time(*nb) : std::nullopt;
        auto until = na ? der::parse_time(*na) : std::nullopt;
        if (!from || !until) {
            return std::unexpected("malformed validity");
        }
        out.not_before = *from;
        out.not_after = *until;
    }
    t.next_if(0x81);  // issuerUniqueID
    t.next_if(0x82);  // subjectUniqueID
    auto wrapper = t.next_if(der::tag_context_3);
    if (!wrapper) {
        return out;  // a v1 certificate: no extensions
    }
    out.has_extensions = true;
    der::reader w(wrapper->content);
    auto exts = w.next_if(der::tag_sequence);
    bool ok = exts != std::nullopt;
    if (ok) {
        ok = der::for_each_extension(exts->content, [&](const der::extension& e) {
            if (std::ranges::equal(e.oid, oid_subject_key_id)) {
                der::reader r(e.value);
                if (auto id = r.next_if(der::tag_octet_string)) {
                    out.subject_key_id.assign(id->content.begin(), id->content.end());
                } else {
                    ok = false;
                }
            } else if (std::ranges::equal(e.oid, der::oid_authority_key_id)) {
                auto id = der::authority_key_id(e.value);
                if (!id) {
                    ok = false;
                    return;
                }
                out.authority_key_id.assign(id->begin(), id->end());
            } else if (std::ranges::equal(e.oid, oid_basic_constraints)) {
                der::reader r(e.value);
                auto seq = r.next_if(der::tag_sequence);
                if (!seq) {
                    ok = false;
                    return;
                }
                der::reader fields(seq->content);
                if (auto ca = fields.next_if(der::tag_boolean)) {
                    out.is_ca = ca->content.size() == 1 && ca->content[0] != 0;
                }
            } else if (std::ranges::equal(e.oid, oid_key_usage)) {
                // KeyUsage ::= BIT STRING; bit 0 is the first octet's top bit.
                der::reader r(e.value);
                auto bits = r.next_if(der::tag_bit_string);
                if (!bits || bits->content.empty() || bits->content.size() > 3 ||
                    bits->content[0] > 7) {
                    ok = false;
                    return;
                }
                uint16_t usage = 0;
                for (std::size_t i = 1; i < bits->content.size(); ++i) {
                    for (unsigned b = 0; b < 8; ++b) {
                        if ((bits->content[i] & (0x80u >> b)) != 0) {
                            usage = static_cast<uint16_t>(usage | (1u << ((i - 1) * 8 + b)));
                        }
                    }
                }
                out.key_usage = usage;
            } else if (std::ranges::equal(e.oid, oid_ext_key_usage)) {
                der::reader r(e.value);
                auto seq = r.next_if(der::tag_sequence);
                if (!seq) {
                    ok = false;
                    return;
                }
                der::reader purposes(seq->content);
                while (!purposes.empty()) {
                    auto oid = purposes.next_if(der::tag_oid);
                    if (!oid) {
                        ok = false;
                        return;
                    }
                    out.extended_key_usage.emplace_back(oid->content.begin(), oid->content.end());
                }
                if (out.extended_key_usage.empty()) {
                    ok = false;  // SEQUENCE SIZE (1..MAX)
                }
            } else if (std::ranges::equal(e.oid, oid_subject_alt_name)) {
                ok = ok && read_alt_names(e.value, out);
            } else if (std::ranges::equal(e.oid, oid_crl_distribution)) {
                ok = ok && read_distribution_points(e.value, out);
            }
        });
    }
    if (!ok) {
        return std::unexpected("malformed certificate extensions");
    }
    return out;
}

std::string certificate::client_auth_refusal() const {
    if (is_ca) {
        return "is a CA certificate (basicConstraints cA), not a client certificate";
    }
    if (key_usage && (*key_usage & key_usage_digital_signature) == 0) {
        return "has a keyUsage without digitalSignature, which a TLS client needs to sign "
               "the handshake";
    }
    if (!extended_key_usage.empty() &&
        std::ranges::none_of(extended_key_usage, [](const std::vector<uint8_t>& p) {
            return std::ranges::equal(p, oid_kp_client_auth) || std::ranges::equal(p, oid_any_eku);
        })) {
        return "has an extendedKeyUsage without clientAuth";
    }
    return {};
}

std::string serial_hex(std::span<const uint8_t> serial) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (uint8_t b : normalize_serial(serial)) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

}  // namespace tlsterm::x509
