// OpenSSL's command-line tools as TLS peers: s_client with the test PKI's
// client identities, and what s_client saved of a session.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "support/process.h"

namespace tlsterm::test {

// The certificate file of a gen-pki client: its chain (leaf + intermediate)
// where it has one, else its certificate.
std::string client_certificate(const std::string& client);

// openssl s_client to 127.0.0.1:`port` trusting the test root, presenting
// `client`'s certificate ("" = none), with `extra` arguments. Kept open a
// moment so a TLS 1.3 server's verdict on the client certificate (sent
// after the client's Finished) and its session tickets arrive. With a
// `request`, it is sent once connected and the answer is read to the end.
process_result s_client(uint16_t port, const std::string& client,
                        const std::vector<std::string>& extra, const std::string& request = "");

// The session ticket in a session file s_client wrote (-sess_out), from
// `openssl sess_id -text`; empty when it holds none.
std::vector<uint8_t> session_ticket(const std::filesystem::path& session);

}  // namespace tlsterm::test
