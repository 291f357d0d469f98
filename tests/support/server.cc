#include "support/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/pki.h"

namespace tlsterm::test {

child_process::child_process(const std::vector<std::string>& argv, std::filesystem::path log_file,
                             const std::vector<std::string>& env)
    : _log(std::move(log_file)) {
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    _pid = ::fork();
    if (_pid < 0) {
        throw std::runtime_error("fork failed");
    }
    if (_pid == 0) {
        int fd = ::open(_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, STDIN_FILENO);
        for (const auto& e : env) {
            ::putenv(const_cast<char*>(e.c_str()));
        }
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
}

child_process::~child_process() {
    if (!_reaped && _pid > 0) {
        ::kill(_pid, SIGTERM);
        if (wait(std::chrono::seconds(5)) == -SIGKILL) {
            return;
        }
    }
}

std::string child_process::output() const {
    std::ifstream f(_log);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

bool child_process::wait_for_output(const std::string& text,
                                    std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (output().find(text) != std::string::npos) {
            return true;
        }
        int status = 0;
        if (!_reaped && ::waitpid(_pid, &status, WNOHANG) == _pid) {
            auto* self = const_cast<child_process*>(this);
            self->_reaped = true;
            self->_status = status;
            return output().find(text) != std::string::npos;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

void child_process::signal(int sig) const {
    if (!_reaped) {
        ::kill(_pid, sig);
    }
}

bool child_process::running() {
    if (_reaped) {
        return false;
    }
    int status = 0;
    if (::waitpid(_pid, &status, WNOHANG) == _pid) {
        _reaped = true;
        _status = status;
        return false;
    }
    return true;
}

int child_process::wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!_reaped) {
        int status = 0;
        pid_t r = ::waitpid(_pid, &status, WNOHANG);
        if (r == _pid) {
            _reaped = true;
            _status = status;
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(_pid, SIGKILL);
            ::waitpid(_pid, &status, 0);
            _reaped = true;
            _status = status;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (WIFEXITED(_status)) {
        return WEXITSTATUS(_status);
    }
    return -WTERMSIG(_status);
}

tlsterm_server::tlsterm_server(const std::string& toml, const std::vector<std::string>& env,
                               const std::vector<std::string>& launcher) {
    _dir = make_temp_dir("server");
    std::filesystem::create_directory_symlink(pki_dir(), _dir / "pki");
    write_file(_dir / "tlsterm.toml", toml);
    std::vector<std::string> argv = launcher;
    argv.push_back(TLSTERM_BINARY);
    argv.push_back((_dir / "tlsterm.toml").string());
    _proc = std::make_unique<child_process>(argv, _dir / "tlsterm.log", env);
    if (!_proc->wait_for_output("listening on")) {
        throw std::runtime_error("tlsterm did not start:\n" + _proc->output());
    }
    // Every listener logs its line before the first connection can arrive.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    refresh_ports();
}

void tlsterm_server::refresh_ports() {
    std::regex line(R"(listener (\S+) listening on \[?[0-9a-f.:]*\]?:(\d+))");
    std::string out = _proc->output();
    for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end; ++it) {
        _ports[(*it)[1].str()] = static_cast<uint16_t>(std::stoi((*it)[2].str()));
    }
}

uint16_t tlsterm_server::port(const std::string& listener) const {
    if (listener.empty()) {
        return _ports.begin()->second;
    }
    return _ports.at(listener);
}

std::size_t count_of(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = 0; (at = haystack.find(needle, at)) != std::string::npos; ++at) {
        ++n;
    }
    return n;
}

bool wait_for_count(const tlsterm_server& s, const std::string& text, std::size_t count,
                    std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (count_of(s.log(), text) >= count) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

long tlsterm_server::rss_kib() const {
    std::ifstream f("/proc/" + std::to_string(_proc->pid()) + "/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return -1;
}

upstream_server::upstream_server(const std::string& mode) {
    auto dir = make_temp_dir("upstream");
    std::vector<std::string> argv =
        mode == "http"
            ? std::vector<std::string>{"python3", TLSTERM_SOURCE_DIR "/tools/demo-upstream",
                                       "--port", "0"}
            : std::vector<std::string>{
                  "python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/raw_upstream.py", mode};
    _proc = std::make_unique<child_process>(argv, dir / "upstream.log");
    if (!_proc->wait_for_output("listening on")) {
        throw std::runtime_error("upstream did not start:\n" + _proc->output());
    }
    std::smatch m;
    std::string out = _proc->output();
    std::regex_search(out, m, std::regex(R"(listening on 127\.0\.0\.1:(\d+))"));
    _port = static_cast<uint16_t>(std::stoi(m[1].str()));
}

process_result curl(uint16_t port, const std::vector<std::string>& paths,
                    std::vector<std::string> extra, const std::string& host) {
    std::vector<std::string> argv = {"curl",       "-sS",
                                     "--cacert",   pki("root-ca.pem").string(),
                                     "--resolve",  host + ":" + std::to_string(port) + ":127.0.0.1",
                                     "--max-time", "120"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    for (const auto& p : paths) {
        argv.push_back("https://" + host + ":" + std::to_string(port) + p);
    }
    return run_process(argv, 180);
}

// A port below the kernel's ephemeral range (ip_local_port_range), chosen
// at random among those free now. A port the kernel handed out as free
// (bind to port 0) is an ephemeral one: any outgoing connection of a test
// running beside this one may take it as its source port before the server
// meant for it binds it ("Address already in use").
uint16_t unused_port() {
    int low = 32768;
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    range >> low;
    const int first = 10000;
    if (low <= first + 1000) {
        low = 65536;  // an unusual range: use the ports above it instead
    }
    static std::mt19937 pick(std::random_device{}());
    for (int attempt = 0; attempt < 1000; ++attempt) {
        int port = low == 65536
                       ? 0
                       : first + static_cast<int>(pick() % static_cast<unsigned>(low - first));
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = htons(static_cast<uint16_t>(port));
        bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0;
        socklen_t len = sizeof(sin);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
        ::close(fd);
        if (free) {
            return ntohs(sin.sin_port);
        }
    }
    throw std::runtime_error("no free port below the ephemeral range");
}

}  // namespace tlsterm::test
