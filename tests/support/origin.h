// nginx (Debian's package) as the origin behind tlsterm's HTTP mode, started
// per test on loopback ports:
//   plain    HTTP
//   mtls     HTTPS with ssl_verify_client on (CA: the test root), certificate
//            server-ecdsa (names tlsterm.test, localhost, 127.0.0.1)
//   expired  HTTPS with the expired server-expired certificate
//   revoked  HTTPS with server-revoked (listed in intermediate-ca's CRL)
//   brief    HTTP that closes idle keep-alive connections after 1 s
// Locations on every server: /headers answers with the request facts the
// tests check (one "name=value" per line), /files/ serves root/files
// (/chunked/ the same files rewritten, so without a length: chunked),
// /upload/ accepts PUT (WebDAV) into root/upload. The access log records,
// per request, the origin connection's serial number and request count.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/server.h"

namespace tlsterm::test {

struct access_entry {
    std::string server;  // plain, mtls, expired, revoked, brief
    uint64_t connection = 0;
    uint64_t requests_on_connection = 0;
    std::string method;
    std::string uri;
    int status = 0;
    std::string client_dn;     // the client certificate's subject (mtls)
    bool tls_resumed = false;  // the TLS session was resumed (mtls, expired)
};

class nginx_origin {
  public:
    nginx_origin();
    ~nginx_origin();
    nginx_origin(const nginx_origin&) = delete;
    nginx_origin& operator=(const nginx_origin&) = delete;

    uint16_t plain_port() const { return _plain; }
    uint16_t mtls_port() const { return _mtls; }
    uint16_t expired_port() const { return _expired; }
    uint16_t brief_port() const { return _brief; }
    uint16_t revoked_port() const { return _revoked; }
    const std::filesystem::path& files_dir() const { return _files; }
    const std::filesystem::path& upload_dir() const { return _upload; }

    // The access log, once it holds at least `expected` entries (nginx logs
    // a request after its response went out) or 5 s have passed.
    std::vector<access_entry> access_log(std::size_t expected = 0) const;
    std::string error_log() const;

  private:
    std::vector<access_entry> read_access_log() const;

    std::filesystem::path _dir;
    std::filesystem::path _files;
    std::filesystem::path _upload;
    uint16_t _plain = 0;
    uint16_t _mtls = 0;
    uint16_t _expired = 0;
    uint16_t _brief = 0;
    uint16_t _revoked = 0;
    std::unique_ptr<child_process> _proc;
};

}  // namespace tlsterm::test
