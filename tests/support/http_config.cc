#include "support/http_config.h"

#include "support/pki.h"

namespace tlsterm::test {

std::string upstream(const std::string& name, uint16_t port, const std::string& tls,
                     const std::string& pool) {
    std::string out = "\n[[upstreams]]\nname = " + quoted(name) +
                      "\naddresses = [\"127.0.0.1:" + std::to_string(port) +
                      "\"]\nconnect_timeout_ms = 1000\n";
    if (!tls.empty()) {
        out += "[upstreams.tls]\n" + tls;
    }
    if (!pool.empty()) {
        out += "[upstreams.pool]\n" + pool;
    }
    return out;
}

std::string listener(const std::string& default_upstream, const std::string& tls_extra,
                     const std::string& http, const std::string& routes) {
    std::string out =
        "\n[[listeners]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\nmode = \"http\"\n"
        "upstream = " +
        quoted(default_upstream) + "\n";
    if (!http.empty()) {
        out += "[listeners.http]\n" + http;
    }
    out += routes;
    out += "[listeners.tls]\n" + tls_extra + certificate_tables("pki/");
    return out;
}

std::string runtime(int shards) {
    return "[runtime]\nshards = " + std::to_string(shards) + "\nlog_level = \"debug\"\n";
}

}  // namespace tlsterm::test
