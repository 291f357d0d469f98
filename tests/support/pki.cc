#include "support/pki.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "support/process.h"

namespace tlsterm::test {

namespace {

constexpr std::size_t large_entries = TLSTERM_TEST_LARGE_CRL;

// The temporary directories of this process, removed when it exits. The
// list and its removal are one object: a separate static holding the list
// could be destroyed first (statics die in reverse order of construction,
// and a function-local one is constructed at first use), which left every
// directory behind.
struct temp_registry {
    std::vector<std::filesystem::path> dirs;
    ~temp_registry() {
        if (std::getenv("TLSTERM_KEEP_TEST_FILES") != nullptr) {
            return;
        }
        std::error_code ec;
        for (const auto& d : dirs) {
            std::filesystem::remove_all(d, ec);
        }
    }
};

std::vector<std::filesystem::path>& temp_dirs() {
    static temp_registry registry;
    return registry.dirs;
}

}  // namespace

std::filesystem::path make_temp_dir(const std::string& tag) {
    std::string templ = (std::filesystem::temp_directory_path() / ("tlsterm-" + tag + "-XXXXXX"));
    if (::mkdtemp(templ.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed for " + templ);
    }
    temp_dirs().emplace_back(templ);
    return templ;
}

const std::filesystem::path& pki_dir() {
    static std::once_flag once;
    static std::filesystem::path dir;
    std::call_once(once, [] {
        if (const char* shared = std::getenv("TLSTERM_TEST_PKI")) {
            if (std::filesystem::exists(std::filesystem::path(shared) / "serials.txt")) {
                dir = shared;
                return;
            }
        }
        dir = make_temp_dir("pki");
        auto r = run_process({TLSTERM_SOURCE_DIR "/tools/gen-pki", "--out", dir.string(), "--force",
                              "--large-crl", std::to_string(large_entries)},
                             120);
        if (r.exit_code != 0) {
            throw std::runtime_error("tools/gen-pki failed: " + r.err);
        }
    });
    return dir;
}

std::size_t large_crl_entries() {
    return large_entries;
}

std::filesystem::path pki(const std::string& name) {
    return pki_dir() / name;
}

std::string certificate_tables(const std::string& prefix) {
    std::string out;
    for (const char* name : {"server-ecdsa", "server-rsa", "server-other"}) {
        out += "\n[[listeners.tls.certificates]]\ncert = \"" + prefix + name +
               ".chain.pem\"\nkey = \"" + prefix + name + ".key\"\n";
    }
    return out;
}

void write_file(const std::filesystem::path& p, const std::string& data) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << data;
    if (!f) {
        throw std::runtime_error("cannot write " + p.string());
    }
}

std::string read_text(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

}  // namespace tlsterm::test
