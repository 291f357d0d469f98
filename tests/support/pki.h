// Test PKI: tools/gen-pki runs once per test process into a temporary
// directory, removed when the process ends. Identities are listed in
// tools/README.md.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace tlsterm::test {

// Directory holding the generated PKI (created on first call). The large
// CRL has `large_crl_entries()` extra revoked serials.
const std::filesystem::path& pki_dir();
std::size_t large_crl_entries();

// pki_dir() / name
std::filesystem::path pki(const std::string& name);

// A fresh temporary directory for one test, removed with the process.
std::filesystem::path make_temp_dir(const std::string& tag);

// [[listeners.tls.certificates]] tables for server-ecdsa, server-rsa and
// server-other, with paths prefixed by `prefix` ("" or "pki/").
std::string certificate_tables(const std::string& prefix);

void write_file(const std::filesystem::path& p, const std::string& data);
std::string read_text(const std::filesystem::path& p);

}  // namespace tlsterm::test
