// tests/integration/peers/behaving_origin.py: HTTP origins with the
// connection behaviours real origins have (keep-alive, closing after each
// response in every way, dropping an idle connection, resetting, answering
// early), one listener per behaviour, plain or TLS. Stopped when destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/server.h"

namespace tlsterm::test {

class behaving_origin {
  public:
    // `tls`: every listener speaks TLS with server-ecdsa (tlsterm.test).
    behaving_origin(const std::vector<std::string>& behaviours, bool tls);
    uint16_t port(const std::string& behaviour) const;
    // One line per request read ("request BEHAVIOUR METHOD PATH conn=N")
    // and per request dropped unanswered ("dropped BEHAVIOUR PATH conn=N").
    std::string log() const { return _proc->output(); }

  private:
    std::unique_ptr<child_process> _proc;
};

}  // namespace tlsterm::test
