// The crypto tlsterm's handshakes and records cost, measured on the wolfSSL
// that tlsterm links (built by tools/build-wolfssl). The record layer is
// AES-GCM or ChaCha20-Poly1305 over 16 KiB records; a full ECDSA handshake
// is one key-exchange keygen + shared secret, one server signature and, with
// client certificates, signature verifies.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "tls/wolfssl.h"

#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/curve25519.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

namespace {

constexpr std::size_t record_size = 16 * 1024;  // largest TLS record

void check(int rc, const char* what) {
    if (rc != 0) {
        std::fprintf(stderr, "bench_crypto: %s failed: %d\n", what, rc);
        std::abort();
    }
}

struct rng_holder {
    WC_RNG rng{};
    rng_holder() { check(wc_InitRng(&rng), "wc_InitRng"); }
    ~rng_holder() { wc_FreeRng(&rng); }
};

void aes_gcm(benchmark::State& state, int key_bytes, bool decrypt) {
    std::vector<byte> key(static_cast<std::size_t>(key_bytes), 0x42);
    std::array<byte, 12> iv{};
    std::array<byte, 13> aad{};  // TLS 1.2 AAD size
    std::array<byte, 16> tag{};
    std::vector<byte> in(record_size, 0x17);
    std::vector<byte> out(record_size);
    Aes aes;
    check(wc_AesInit(&aes, nullptr, INVALID_DEVID), "wc_AesInit");
    check(wc_AesGcmSetKey(&aes, key.data(), static_cast<word32>(key.size())), "wc_AesGcmSetKey");
    if (decrypt) {
        check(wc_AesGcmEncrypt(&aes, in.data(), in.data(), record_size, iv.data(), iv.size(),
                               tag.data(), tag.size(), aad.data(), aad.size()),
              "wc_AesGcmEncrypt");
    }
    for (auto _ : state) {
        int rc = decrypt
                     ? wc_AesGcmDecrypt(&aes, out.data(), in.data(), record_size, iv.data(),
                                        iv.size(), tag.data(), tag.size(), aad.data(), aad.size())
                     : wc_AesGcmEncrypt(&aes, out.data(), in.data(), record_size, iv.data(),
                                        iv.size(), tag.data(), tag.size(), aad.data(), aad.size());
        check(rc, "AES-GCM");
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(record_size));
    wc_AesFree(&aes);
}

void BM_aes_128_gcm_encrypt(benchmark::State& state) {
    aes_gcm(state, 16, false);
}
void BM_aes_128_gcm_decrypt(benchmark::State& state) {
    aes_gcm(state, 16, true);
}
void BM_aes_256_gcm_encrypt(benchmark::State& state) {
    aes_gcm(state, 32, false);
}

void BM_chacha20_poly1305_encrypt(benchmark::State& state) {
    std::array<byte, 32> key{};
    std::array<byte, 12> iv{};
    std::array<byte, 13> aad{};
    std::array<byte, 16> tag{};
    std::vector<byte> in(record_size, 0x17);
    std::vector<byte> out(record_size);
    for (auto _ : state) {
        check(wc_ChaCha20Poly1305_Encrypt(key.data(), iv.data(), aad.data(), aad.size(), in.data(),
                                          record_size, out.data(), tag.data()),
              "ChaCha20-Poly1305");
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(record_size));
}

struct ecc_key_holder {
    ecc_key key{};
    ecc_key_holder(WC_RNG& rng, int curve_id, int size) {
        check(wc_ecc_init(&key), "wc_ecc_init");
        check(wc_ecc_make_key_ex(&rng, size, &key, curve_id), "wc_ecc_make_key_ex");
    }
    ~ecc_key_holder() { wc_ecc_free(&key); }
};

void BM_ecdsa_p256_sign(benchmark::State& state) {
    rng_holder r;
    ecc_key_holder k(r.rng, ECC_SECP256R1, 32);
    std::array<byte, 32> hash{};
    std::array<byte, ECC_MAX_SIG_SIZE> sig{};
    for (auto _ : state) {
        word32 len = sig.size();
        check(wc_ecc_sign_hash(hash.data(), hash.size(), sig.data(), &len, &r.rng, &k.key),
              "wc_ecc_sign_hash");
        benchmark::DoNotOptimize(sig.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ecdsa_p256_verify(benchmark::State& state) {
    rng_holder r;
    ecc_key_holder k(r.rng, ECC_SECP256R1, 32);
    std::array<byte, 32> hash{};
    std::array<byte, ECC_MAX_SIG_SIZE> sig{};
    word32 len = sig.size();
    check(wc_ecc_sign_hash(hash.data(), hash.size(), sig.data(), &len, &r.rng, &k.key),
          "wc_ecc_sign_hash");
    for (auto _ : state) {
        int ok = 0;
        check(wc_ecc_verify_hash(sig.data(), len, hash.data(), hash.size(), &ok, &k.key),
              "wc_ecc_verify_hash");
        if (ok != 1) {
            check(-1, "signature did not verify");
        }
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ecdhe_p256(benchmark::State& state) {
    rng_holder r;
    ecc_key_holder peer(r.rng, ECC_SECP256R1, 32);
    std::array<byte, 66> secret{};
    for (auto _ : state) {
        ecc_key_holder mine(r.rng, ECC_SECP256R1, 32);  // ephemeral key per handshake
        check(wc_ecc_set_rng(&mine.key, &r.rng), "wc_ecc_set_rng");
        word32 len = secret.size();
        check(wc_ecc_shared_secret(&mine.key, &peer.key, secret.data(), &len),
              "wc_ecc_shared_secret");
        benchmark::DoNotOptimize(secret.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ecdhe_x25519(benchmark::State& state) {
    rng_holder r;
    curve25519_key peer;
    check(wc_curve25519_init(&peer), "wc_curve25519_init");
    check(wc_curve25519_make_key(&r.rng, CURVE25519_KEYSIZE, &peer), "make_key");
    std::array<byte, CURVE25519_KEYSIZE> secret{};
    for (auto _ : state) {
        curve25519_key mine;
        check(wc_curve25519_init(&mine), "wc_curve25519_init");
        check(wc_curve25519_make_key(&r.rng, CURVE25519_KEYSIZE, &mine), "make_key");
        word32 len = secret.size();
        check(wc_curve25519_shared_secret(&mine, &peer, secret.data(), &len), "shared_secret");
        wc_curve25519_free(&mine);
        benchmark::DoNotOptimize(secret.data());
    }
    wc_curve25519_free(&peer);
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// Generated once per process; Google Benchmark calls a benchmark several times.
const std::vector<byte>& openssl_rsa_2048_der() {
    static const std::vector<byte> der = [] {
        std::FILE* p =
            ::popen("openssl genrsa 2048 2>/dev/null | openssl rsa -outform DER 2>/dev/null", "r");
        if (p == nullptr) {
            check(-1, "popen openssl");
        }
        std::vector<byte> out;
        std::array<byte, 4096> buf{};
        std::size_t n;
        while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
            out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
        }
        check(::pclose(p), "openssl genrsa");
        return out;
    }();
    return der;
}

void BM_rsa_2048_sign(benchmark::State& state) {
    rng_holder r;
    RsaKey key;
    check(wc_InitRsaKey(&key, nullptr), "wc_InitRsaKey");
    // tlsterm's wolfSSL has no key generation; the key comes from openssl.
    const std::vector<byte>& der = openssl_rsa_2048_der();
    word32 idx = 0;
    check(wc_RsaPrivateKeyDecode(der.data(), &idx, &key, static_cast<word32>(der.size())),
          "wc_RsaPrivateKeyDecode");
    check(wc_RsaSetRNG(&key, &r.rng), "wc_RsaSetRNG");
    std::array<byte, 32> hash{};
    std::array<byte, 256> sig{};
    for (auto _ : state) {
        int n = wc_RsaPSS_Sign(hash.data(), hash.size(), sig.data(), sig.size(),
                               WC_HASH_TYPE_SHA256, WC_MGF1SHA256, &key, &r.rng);
        if (n <= 0) {
            check(n, "wc_RsaPSS_Sign");
        }
        benchmark::DoNotOptimize(sig.data());
    }
    wc_FreeRsaKey(&key);
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

}  // namespace

BENCHMARK(BM_aes_128_gcm_encrypt);
BENCHMARK(BM_aes_128_gcm_decrypt);
BENCHMARK(BM_aes_256_gcm_encrypt);
BENCHMARK(BM_chacha20_poly1305_encrypt);
BENCHMARK(BM_ecdsa_p256_sign);
BENCHMARK(BM_ecdsa_p256_verify);
BENCHMARK(BM_ecdhe_p256);
BENCHMARK(BM_ecdhe_x25519);
BENCHMARK(BM_rsa_2048_sign)->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
    tlsterm::tls::init_library();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
