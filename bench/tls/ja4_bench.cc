// JA4 of a Chrome-sized ClientHello (15 suites, 16 extensions, 8 signature
// algorithms) as tlsterm's reader leaves it: two sorts, two lists in hex,
// two SHA-256 digests. Issue 24's target: under 1 us per hello.
#include <benchmark/benchmark.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include <string>

#include "tls/ja4.h"

namespace {

tlsterm::tls::client_hello chrome_hello() {
    tlsterm::tls::client_hello h;
    h.legacy_version = 0x0303;
    h.server_name = "www.example.com";
    h.alpn = {"h2", "http/1.1"};
    h.cipher_suites = {0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
                       0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
    h.extensions = {0xdada, 0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b,
                    0x000a, 0x002b, 0xff01, 0x0023, 0x0012, 0x0005, 0x000d, 0x001b, 0x1a1a};
    h.signature_schemes = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
    h.supported_versions = {0x7a7a, 0x0304, 0x0303};
    return h;
}

void BM_ja4(benchmark::State& state) {
    const auto hello = chrome_hello();
    for (auto _ : state) {
        benchmark::DoNotOptimize(tlsterm::tls::ja4(hello));
    }
}
BENCHMARK(BM_ja4);

// Its two digests alone (the suites' list is 74 bytes, the extensions' and
// signature algorithms' 109).
void BM_ja4_digests(benchmark::State& state) {
    const std::string a(74, 'a');
    const std::string b(109, 'b');
    unsigned char digest[32];
    for (auto _ : state) {
        wc_Sha256Hash(reinterpret_cast<const unsigned char*>(a.data()), 74, digest);
        wc_Sha256Hash(reinterpret_cast<const unsigned char*>(b.data()), 109, digest);
        benchmark::DoNotOptimize(digest);
    }
}
BENCHMARK(BM_ja4_digests);

}  // namespace

BENCHMARK_MAIN();
