// Real processes for integration tests: tlsterm started from inline TOML on
// port 0, and Python upstreams from tests/integration/peers/. Each learns
// its port from the process's own output and is stopped (SIGTERM, then
// SIGKILL) when destroyed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/process.h"

namespace tlsterm::test {

class child_process {
  public:
    // Starts argv with stdout+stderr appended to `log_file`; `env` entries
    // ("NAME=value") are added to the environment.
    child_process(const std::vector<std::string>& argv, std::filesystem::path log_file,
                  const std::vector<std::string>& env = {});
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const { return _pid; }
    std::string output() const;
    // Waits until output() contains `text`; false on timeout or exit.
    bool wait_for_output(const std::string& text,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
    void signal(int sig) const;
    // Waits for exit; returns the exit code, or -signal when killed.
    int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
    bool running();

  private:
    pid_t _pid = -1;
    std::filesystem::path _log;
    bool _reaped = false;
    int _status = 0;
};

// tlsterm on a config whose relative paths resolve in the test PKI.
class tlsterm_server {
  public:
    // `launcher` is put before the binary (e.g. {"prlimit", "--nofile=48:48"}).
    explicit tlsterm_server(const std::string& toml, const std::vector<std::string>& env = {},
                            const std::vector<std::string>& launcher = {});
    // The port the named listener got (the latest line naming it: a
    // listener added by a reload is found after refresh_ports()).
    uint16_t port(const std::string& listener = "") const;
    void refresh_ports();
    // The config file it runs on (rewrite it, then SIGHUP, to reload).
    std::filesystem::path config_file() const { return _dir / "tlsterm.toml"; }
    const std::filesystem::path& dir() const { return _dir; }
    child_process& process() { return *_proc; }
    std::string log() const { return _proc->output(); }
    long rss_kib() const;  // resident set size from /proc

  private:
    std::filesystem::path _dir;
    std::unique_ptr<child_process> _proc;
    std::map<std::string, uint16_t> _ports;
};

// Occurrences of `needle` in `haystack` (a log).
std::size_t count_of(const std::string& haystack, const std::string& needle);

// Waits until the server's log has `count` occurrences of `text`.
bool wait_for_count(const tlsterm_server& s, const std::string& text, std::size_t count,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20));

// An upstream origin: "http" is tools/demo-upstream; other modes are
// tests/integration/peers/raw_upstream.py.
class upstream_server {
  public:
    explicit upstream_server(const std::string& mode = "http");
    uint16_t port() const { return _port; }
    std::string log() const { return _proc->output(); }

  private:
    std::unique_ptr<child_process> _proc;
    uint16_t _port = 0;
};

// curl against tlsterm on 127.0.0.1:`port` as https://`host`:`port`/...,
// trusting the test root CA; `paths` are fetched over one connection when
// curl can. `extra` goes before the URLs.
process_result curl(uint16_t port, const std::vector<std::string>& paths,
                    std::vector<std::string> extra = {}, const std::string& host = "localhost");

// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed),
// below the ephemeral range so no outgoing connection takes it meanwhile.
uint16_t unused_port();

}  // namespace tlsterm::test
