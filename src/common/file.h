// Whole-file reads for setup code (config, certificates, CRLs). Not for the
// data path: these block.
#pragma once

#include <cstddef>
#include <expected>
#include <filesystem>
#include <string>

namespace tlsterm {

// Reads `path` into memory. The error names the path and the reason in one
// phrase, e.g. "no such file: /etc/tlsterm/ca.crl".
std::expected<std::string, std::string> read_file(const std::filesystem::path& path,
                                                  std::size_t max_bytes = 512u << 20);

// A one-line secret (a key password): the first line of `path`, without its
// line break.
std::expected<std::string, std::string> read_secret_file(const std::filesystem::path& path);

}  // namespace tlsterm
