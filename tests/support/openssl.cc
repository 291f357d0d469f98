#include "support/openssl.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "support/pki.h"

namespace tlsterm::test {

std::string client_certificate(const std::string& client) {
    auto chain = pki(client + ".chain.pem");
    return std::filesystem::exists(chain) ? chain.string() : pki(client + ".pem").string();
}

process_result s_client(uint16_t port, const std::string& client,
                        const std::vector<std::string>& extra, const std::string& request) {
    std::string input = request.empty() ? "sleep 1" : "(printf '" + request + "'; sleep 1)";
    std::string cmd = input + " | openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                      " -CAfile " + pki("root-ca.pem").string() +
                      (request.empty() ? "" : " -ign_eof");
    if (!client.empty()) {
        cmd += " -cert " + client_certificate(client) + " -key " + pki(client + ".key").string();
    }
    for (const auto& e : extra) {
        cmd += " " + e;
    }
    return run_process({"sh", "-c", cmd + " 2>&1"}, 30);
}

std::vector<uint8_t> session_ticket(const std::filesystem::path& session) {
    auto r = run_process({"openssl", "sess_id", "-in", session.string(), "-noout", "-text"});
    auto at = r.out.find("TLS session ticket:\n");
    if (at == std::string::npos) {
        return {};
    }
    // Hex dump lines "    0000 - 3b 6b ... -...   ;k..": read the byte columns.
    std::vector<uint8_t> bytes;
    std::istringstream lines(r.out.substr(at + 20));
    for (std::string line; std::getline(lines, line) && line.find(" - ") != std::string::npos;) {
        std::string hex = line.substr(line.find(" - ") + 3, 16 * 3);
        std::replace(hex.begin(), hex.end(), '-', ' ');  // "fb-62" between bytes 8 and 9
        std::istringstream cols(hex);
        for (std::string col; cols >> col;) {
            if (col.size() == 2 && std::isxdigit(static_cast<unsigned char>(col[0])) != 0 &&
                std::isxdigit(static_cast<unsigned char>(col[1])) != 0) {
                bytes.push_back(static_cast<uint8_t>(std::stoi(col, nullptr, 16)));
            }
        }
    }
    return bytes;
}

}  // namespace tlsterm::test
