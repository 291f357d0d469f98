#include "support/origin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/pki.h"

namespace tlsterm::test {

namespace {

bool accepts(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

nginx_origin::nginx_origin() {
    _dir = make_temp_dir("nginx");
    _files = _dir / "root" / "files";
    _upload = _dir / "root" / "upload";
    std::filesystem::create_directories(_files);
    std::filesystem::create_directories(_upload);
    std::filesystem::create_directories(_dir / "tmp");
    write_file(_files / "small.txt", "small file\n");
    _plain = unused_port();
    _mtls = unused_port();
    _expired = unused_port();
    _brief = unused_port();
    _revoked = unused_port();
    std::string pki = pki_dir().string() + "/";
    std::string root = (_dir / "root").string();
    std::string tmp = (_dir / "tmp").string();
    // One "name=value" line per fact a test checks; $http_* is empty when
    // the origin did not receive the header.
    std::string facts =
        "return 200 \"server=$server_name\\nmethod=$request_method\\nuri=$request_uri\\n"
        "host=$http_host\\nxff=$http_x_forwarded_for\\nxfp=$http_x_forwarded_proto\\n"
        "xfh=$http_x_forwarded_host\\nconnection=$http_connection\\nte=$http_te\\n"
        "secret=$http_x_secret\\nkeepalive=$http_keep_alive\\nexpect=$http_expect\\n"
        "client_cert=$http_client_cert\\nclient_cert_chain=$http_client_cert_chain\\n"
        "xfcc=$http_x_forwarded_client_cert\\nx_client_verify=$http_x_client_verify\\n"
        "x_client_subject=$http_x_client_subject\\nx_client_serial=$http_x_client_serial\\n"
        "x_client_cert=$http_x_client_cert\\nssl_client=$ssl_client_s_dn\\n"
        "conn_serial=$connection\\nconn_requests=$connection_requests\\n\";";
    std::string locations = "location /headers { default_type text/plain; " + facts +
                            " }\n"
                            "location /files/ { root " +
                            root +
                            "; }\n"
                            // sub_filter changes the length: a chunked response
                            "location /chunked/ { alias " +
                            root +
                            "/files/; sub_filter 'small' 'SMALL'; sub_filter_types *; }\n"
                            "location /upload/ { root " +
                            root +
                            "; dav_methods PUT; create_full_put_path on; "
                            "client_max_body_size 0; client_body_temp_path " +
                            tmp + "; }\n";
    auto server = [&](const std::string& name, uint16_t port, const std::string& tls) {
        return "server {\n  listen 127.0.0.1:" + std::to_string(port) +
               (tls.empty() ? "" : " ssl") + ";\n  server_name " + name + ";\n" + tls + locations +
               "}\n";
    };
    std::string mtls = "  ssl_certificate " + pki +
                       "server-ecdsa.chain.pem;\n  ssl_certificate_key " + pki +
                       "server-ecdsa.key;\n  ssl_client_certificate " + pki +
                       "ca-bundle.pem;\n  ssl_verify_client on;\n  ssl_verify_depth 3;\n";
    std::string expired = "  ssl_certificate " + pki +
                          "server-expired.chain.pem;\n  ssl_certificate_key " + pki +
                          "server-expired.key;\n";
    std::string revoked = "  ssl_certificate " + pki +
                          "server-revoked.chain.pem;\n  ssl_certificate_key " + pki +
                          "server-revoked.key;\n";
    std::string conf =
        std::string(::geteuid() == 0 ? "user root root;\n" : "") +
        "daemon off;\nworker_processes 1;\npid " + (_dir / "nginx.pid").string() + ";\nerror_log " +
        (_dir / "error.log").string() +
        " info;\nevents { worker_connections 1024; }\nhttp {\n"
        "  log_format origin '$server_name $connection $connection_requests $request_method "
        "$request_uri $status $ssl_session_reused \"$ssl_client_s_dn\"';\n"
        "  access_log " +
        (_dir / "access.log").string() +
        " origin;\n"
        "  client_body_temp_path " +
        tmp + ";\n  proxy_temp_path " + tmp + ";\n  fastcgi_temp_path " + tmp +
        ";\n  uwsgi_temp_path " + tmp + ";\n  scgi_temp_path " + tmp +
        ";\n"
        "  keepalive_requests 100000;\n  keepalive_timeout 60s;\n" +
        server("plain", _plain, "") + server("mtls", _mtls, mtls) +
        server("expired", _expired, expired) + server("revoked", _revoked, revoked) +
        "server {\n  listen 127.0.0.1:" + std::to_string(_brief) +
        ";\n  server_name brief;\n  keepalive_timeout 1s;\n" + locations + "}\n}\n";
    write_file(_dir / "nginx.conf", conf);
    _proc =
        std::make_unique<child_process>(std::vector<std::string>{"nginx", "-p", _dir.string(), "-c",
                                                                 (_dir / "nginx.conf").string()},
                                        _dir / "nginx.out");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!(accepts(_plain) && accepts(_mtls) && accepts(_expired) && accepts(_brief) &&
             accepts(_revoked))) {
        if (std::chrono::steady_clock::now() > deadline || !_proc->running()) {
            throw std::runtime_error("nginx did not start:\n" + _proc->output() + error_log());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

nginx_origin::~nginx_origin() = default;

std::vector<access_entry> nginx_origin::access_log(std::size_t expected) const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
        auto entries = read_access_log();
        if (entries.size() >= expected || std::chrono::steady_clock::now() > deadline) {
            return entries;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

std::vector<access_entry> nginx_origin::read_access_log() const {
    std::vector<access_entry> out;
    std::ifstream f(_dir / "access.log");
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream in(line);
        access_entry e;
        std::string reused;
        in >> e.server >> e.connection >> e.requests_on_connection >> e.method >> e.uri >>
            e.status >> reused;
        e.tls_resumed = reused == "r";
        std::string rest;
        std::getline(in, rest);
        auto q = rest.find('"');
        if (q != std::string::npos) {
            e.client_dn = rest.substr(q + 1, rest.rfind('"') - q - 1);
        }
        out.push_back(std::move(e));
    }
    return out;
}

std::string nginx_origin::error_log() const {
    return read_text(_dir / "error.log");
}

}  // namespace tlsterm::test
