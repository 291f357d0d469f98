// Revoked-serial lookups and CRL loading, the per-handshake and per-reload
// costs of client-certificate revocation checks.
//
//   BM_lookup_{hit,miss}/N  one lookup in a set of N random 16-octet serials
//                           (CA-style), probes in random order so that large
//                           sets are measured from memory, not cache
//   BM_load_crl             parse a DER CRL and build its set; the file comes
//                           from TLSTERM_BENCH_CRL (tools/bench-crl makes a
//                           1,000,000-entry one)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

#include "common/pem.h"
#include "crl/crl_file.h"
#include "crl/serial_set.h"
#include "crl/store.h"

namespace {

using tlsterm::crl::serial_set;

struct fixture {
    std::vector<uint8_t> members;  // N serials, 16 octets each
    std::vector<uint8_t> others;   // serials not in the set
    serial_set set;
};

constexpr std::size_t serial_len = 16;
constexpr std::size_t probes = 1 << 20;

std::vector<uint8_t> random_serials(std::size_t n, std::mt19937_64& rng) {
    std::vector<uint8_t> out(n * serial_len);
    for (std::size_t i = 0; i < out.size(); i += 8) {
        uint64_t r = rng();
        std::memcpy(out.data() + i, &r, 8);
    }
    for (std::size_t i = 0; i < n; ++i) {
        out[i * serial_len] = static_cast<uint8_t>((out[i * serial_len] & 0x7f) | 0x01);
    }
    return out;
}

const fixture& get(std::size_t n) {
    static std::map<std::size_t, std::unique_ptr<fixture>> cache;
    auto& f = cache[n];
    if (!f) {
        f = std::make_unique<fixture>();
        std::mt19937_64 rng(n);
        f->members = random_serials(n, rng);
        f->others = random_serials(probes, rng);
        serial_set::builder b(n);
        for (std::size_t i = 0; i < n; ++i) {
            b.add(std::span(f->members).subspan(i * serial_len, serial_len));
        }
        f->set = std::move(b).build();
    }
    return *f;
}

void lookup(benchmark::State& state, bool hit) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const fixture& f = get(n);
    // Probe keys copied in random order and then read sequentially: the
    // hardware prefetches them, so the time is the set's own memory access.
    std::mt19937_64 rng(7);
    const std::vector<uint8_t>& source = hit ? f.members : f.others;
    std::vector<uint8_t> keys(probes * serial_len);
    for (std::size_t k = 0; k < probes; ++k) {
        std::size_t pick = rng() % (hit ? n : probes);
        std::memcpy(keys.data() + k * serial_len, source.data() + pick * serial_len, serial_len);
    }
    std::size_t i = 0;
    std::size_t found = 0;
    for (auto _ : state) {
        found += f.set.contains(std::span(keys).subspan(i * serial_len, serial_len)) ? 1u : 0u;
        i = (i + 1) & (probes - 1);
    }
    if (found != (hit ? static_cast<std::size_t>(state.iterations()) : 0)) {
        state.SkipWithError("wrong lookup result");
    }
    state.counters["set_MiB"] = static_cast<double>(f.set.memory_bytes()) / (1 << 20);
}

void BM_lookup_hit(benchmark::State& state) {
    lookup(state, true);
}
void BM_lookup_miss(benchmark::State& state) {
    lookup(state, false);
}

std::string slurp(const char* path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// What a reload does with one CRL file: parse, attribute to its CA, verify
// the signature, build the serial set (crl::load_crls).
void BM_load_crl(benchmark::State& state) {
    const char* path = std::getenv("TLSTERM_BENCH_CRL");
    const char* ca_path = std::getenv("TLSTERM_BENCH_CA");
    if (path == nullptr || ca_path == nullptr) {
        state.SkipWithError("set TLSTERM_BENCH_CRL (a CRL) and TLSTERM_BENCH_CA (its CA, PEM)");
        return;
    }
    std::string data = slurp(path);
    auto blocks = tlsterm::pem::decode_all(slurp(ca_path));
    if (!blocks || blocks->empty()) {
        state.SkipWithError("no certificate in TLSTERM_BENCH_CA");
        return;
    }
    auto ca = tlsterm::crl::make_trusted_ca((*blocks)[0].der);
    if (!ca) {
        state.SkipWithError(ca.error().c_str());
        return;
    }
    std::vector<tlsterm::crl::trusted_ca> cas{std::move(*ca)};
    std::size_t entries = 0;
    std::size_t memory = 0;
    for (auto _ : state) {
        auto crls = tlsterm::crl::load_crls(data, path, cas);
        if (!crls || crls->empty()) {
            state.SkipWithError(crls ? "no CRL" : crls.error().c_str());
            return;
        }
        entries = (*crls)[0]->revoked.size();
        memory = (*crls)[0]->revoked.memory_bytes();
        benchmark::DoNotOptimize(crls);
    }
    state.counters["entries"] = static_cast<double>(entries);
    state.counters["set_MiB"] = static_cast<double>(memory) / (1 << 20);
    state.counters["file_MiB"] = static_cast<double>(data.size()) / (1 << 20);
}

}  // namespace

BENCHMARK(BM_lookup_hit)->Arg(1000)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_lookup_miss)->Arg(1000)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_load_crl)->Unit(benchmark::kMillisecond)->Iterations(3);

BENCHMARK_MAIN();
