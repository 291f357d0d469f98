#include "support/origin_peers.h"

#include <regex>
#include <stdexcept>

#include "support/pki.h"

namespace tlsterm::test {

behaving_origin::behaving_origin(const std::vector<std::string>& behaviours, bool tls) {
    std::vector<std::string> argv = {
        "python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/behaving_origin.py"};
    if (tls) {
        argv.insert(argv.end(), {"--tls", pki("server-ecdsa.chain.pem").string(),
                                 pki("server-ecdsa.key").string()});
    }
    argv.insert(argv.end(), behaviours.begin(), behaviours.end());
    _proc = std::make_unique<child_process>(argv, make_temp_dir("origin") / "origin.log");
    if (!_proc->wait_for_output("ready")) {
        throw std::runtime_error("origin did not start:\n" + _proc->output());
    }
}

uint16_t behaving_origin::port(const std::string& behaviour) const {
    std::smatch m;
    std::string out = _proc->output();
    if (!std::regex_search(out, m,
                           std::regex("listening " + behaviour + R"( 127\.0\.0\.1:(\d+))"))) {
        throw std::runtime_error("origin has no listener " + behaviour);
    }
    return static_cast<uint16_t>(std::stoi(m[1].str()));
}

}  // namespace tlsterm::test
