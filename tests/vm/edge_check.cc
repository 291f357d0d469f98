// Run inside the kTLS VM by tests/vm/through_tlsterm.sh, against a running
// tlsterm whose tcp listener hands its records to the kernel, with this
// program's own echo origin behind it. A wolfSSL client over memory writes
// the bytes itself, so it decides where they are cut:
//  - records cut across the switch to the kernel: the client's Finished,
//    a record and part of the next in one segment (TLS 1.3 sends data with
//    its Finished), the rest in small pieces; every byte echoed back;
//  - a record that stalls half sent, during the switch, on kernel records,
//    and after a whole record in the same segment, costs tlsterm no CPU
//    and holds none of its io-wq workers while it waits, then completes;
//  - a record that does not authenticate ends the connection (no byte of it
//    reaches the origin);
// on TLS 1.3 and 1.2. Prints one line per check; exits 0 when all pass.
//   edge_check TLSTERM_PID PORT ORIGIN_PORT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "unit/tls/memory_peer.h"
#include "vm/vm_check.h"

namespace {

using namespace tlsterm;
using vm::check;

// An echo origin: each connection's bytes back to it until its end.
pid_t start_echo(uint16_t port) {
    int l = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(l, 16) != 0) {
        std::perror("echo origin");
        std::exit(2);
    }
    pid_t pid = ::fork();
    if (pid != 0) {
        ::close(l);
        return pid;
    }
    for (;;) {
        int c = ::accept(l, nullptr, nullptr);
        if (c < 0) {
            continue;
        }
        char buf[16384];
        for (;;) {
            ssize_t n = ::recv(c, buf, sizeof(buf), 0);
            if (n <= 0) {
                break;
            }
            ::send(c, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
        }
        ::shutdown(c, SHUT_WR);
        ::close(c);
    }
}

// tlsterm's CPU time so far, in clock ticks (utime + stime, fields 14
// and 15 of /proc/PID/stat).
long cpu_ticks(pid_t pid) {
    std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (f == nullptr) {
        return -1000;
    }
    char buf[1024] = {};
    std::size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    std::string stat(buf, n);
    std::size_t at = stat.rfind(')');
    if (at == std::string::npos) {
        return -1000;
    }
    long utime = 0;
    long stime = 0;
    std::sscanf(stat.c_str() + at + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
                &utime, &stime);
    return utime + stime;
}

// tlsterm's io-wq workers that wait on something other than work to do (an
// idle one sleeps in io_wq_worker, io_wqe_worker before Linux 6.3): a
// receive handed to a worker that waits there for the rest of a record
// shows up here as "name:wait_woken".
std::string waiting_workers(pid_t pid) {
    std::string out;
    std::error_code ec;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::ifstream comm_file(task.path() / "comm");
        std::ifstream wchan_file(task.path() / "wchan");
        std::string comm;
        std::string wchan;
        std::getline(comm_file, comm);
        std::getline(wchan_file, wchan);
        if (comm.starts_with("iou-wrk") && wchan != "io_wq_worker" && wchan != "io_wqe_worker" &&
            wchan != "0") {
            out += (out.empty() ? "" : ", ") + comm + ":" + wchan;
        }
    }
    return out;
}

void pause_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// A client connection to tlsterm whose records this program cuts.
struct client {
    int fd = -1;
    test::memory_client tls;
    explicit client(int version) : tls(options(version)) {}
    ~client() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    static test::client_options options(int version) {
        test::client_options o;
        o.max_version = version;
        return o;
    }
    bool dial(uint16_t port) {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        timeval t{10, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    }
    // The handshake up to the client's last flight, which stays queued in
    // tls.out() for the caller to send.
    bool handshake() {
        for (int i = 0; i < 20; ++i) {
            int r = tls.connect();
            if (r < 0) {
                return false;
            }
            if (tls.connected()) {
                return true;
            }
            send_bytes(take());
            if (!receive()) {
                return false;
            }
        }
        return false;
    }
    std::string take() {
        auto b = tls.out().readable();
        std::string s(reinterpret_cast<const char*>(b.data()), b.size());
        tls.out().clear();
        return s;
    }
    void send_bytes(const std::string& s) { ::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }
    bool receive() {
        char buf[16384];
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            return false;
        }
        tls.in().append(
            std::span(reinterpret_cast<const uint8_t*>(buf), static_cast<std::size_t>(n)));
        return true;
    }
    // Plaintext from tlsterm until `n` bytes came or the stream ended.
    std::string read_plaintext(std::size_t n) {
        std::string got;
        while (got.size() < n) {
            got += tls.read_all();
            if (got.size() >= n || !receive()) {
                break;
            }
        }
        got += tls.read_all();
        return got;
    }
};

std::string pattern(std::size_t n, char seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>(seed + static_cast<char>(i % 61));
    }
    return s;
}

std::size_t record_size(const std::string& wire, std::size_t at) {
    return 5 + (static_cast<std::size_t>(static_cast<uint8_t>(wire[at + 3])) << 8 |
                static_cast<uint8_t>(wire[at + 4]));
}

void cut_across_the_switch(uint16_t port, int version, const std::string& v) {
    client c(version);
    if (!check(c.dial(port) && c.handshake(), v + ": handshake")) {
        return;
    }
    std::string finished = c.take();
    std::string data = pattern(100, 'a') + pattern(6000, 'b') + pattern(100, 'c');
    c.tls.write(data.substr(0, 100));
    c.tls.write(data.substr(100, 6000));
    c.tls.write(data.substr(6100));
    std::string records = c.take();
    std::size_t second = record_size(records, 0);
    std::size_t cut = second + record_size(records, second) / 2;
    // The Finished, a record and half the next in one segment; the rest
    // in 7-byte pieces.
    c.send_bytes(finished + records.substr(0, cut));
    pause_ms(100);
    for (std::size_t at = cut; at < records.size(); at += 7) {
        c.send_bytes(records.substr(at, 7));
        if (at % 700 == cut % 700) {
            pause_ms(1);
        }
    }
    std::string echoed = c.read_plaintext(data.size());
    check(echoed == data, v + ": records cut across the switch to the kernel, all " +
                              std::to_string(data.size()) + " bytes echoed (got " +
                              std::to_string(echoed.size()) + ")");
}

// tlsterm's CPU over 2 s with nothing to do (its timers), in the
// emulated guest: what a stalled record may cost on top.
long idle_ticks = 0;

// When the half record comes: with the client's Finished (during the
// switch), alone on kernel records, or after a whole record in the same
// segment (the whole one is read at once, the half waits for its rest).
enum class stall : uint8_t { during_switch, on_kernel_records, after_a_record };

void stalled_record(uint16_t port, int version, const std::string& v, pid_t tlsterm, stall how) {
    const std::string when = how == stall::during_switch       ? "during the switch"
                             : how == stall::on_kernel_records ? "on kernel records"
                                                               : "after a whole record";
    client c(version);
    if (!check(c.dial(port) && c.handshake(), v + ": handshake")) {
        return;
    }
    std::string finished = c.take();
    if (how != stall::during_switch) {
        c.send_bytes(finished);
        c.tls.write("warm");
        c.send_bytes(c.take());
        if (!check(c.read_plaintext(4) == "warm", v + ": echo before the stall")) {
            return;
        }
        finished.clear();
    }
    std::string whole;
    if (how == stall::after_a_record) {
        c.tls.write("whole");
        whole = c.take();
    }
    std::string data = pattern(3000, 's');
    c.tls.write(data);
    std::string record = c.take();
    c.send_bytes(finished + whole + record.substr(0, record.size() / 2));
    if (!whole.empty() && !check(c.read_plaintext(5) == "whole",
                                 v + ": the whole record before the stall is echoed")) {
        return;
    }
    pause_ms(200);
    long before = cpu_ticks(tlsterm);
    pause_ms(1000);
    std::string waiting = waiting_workers(tlsterm);
    pause_ms(1000);
    long spent = cpu_ticks(tlsterm) - before;
    check(waiting.empty(), v + ": no io-wq worker of tlsterm waits for the record stalled " + when +
                               (waiting.empty() ? "" : " (" + waiting + ")"));
    // A busy loop would cost about 200 (the whole 2 s); 10 more than idle
    // is 5% of a CPU, a margin for the emulated guest's timing.
    check(spent <= idle_ticks + 10, v + ": a record stalled half sent " + when +
                                        " for 2 s costs tlsterm " + std::to_string(spent) +
                                        " clock ticks of CPU (idle: " + std::to_string(idle_ticks) +
                                        "; at most 10 more)");
    c.send_bytes(record.substr(record.size() / 2));
    check(c.read_plaintext(data.size()) == data, v + ": the stalled record completes " + when);
}

void forged_record(uint16_t port, int version, const std::string& v) {
    client c(version);
    if (!check(c.dial(port) && c.handshake(), v + ": handshake")) {
        return;
    }
    c.send_bytes(c.take());
    c.tls.write("fine");
    c.send_bytes(c.take());
    if (!check(c.read_plaintext(4) == "fine", v + ": echo before the forged record")) {
        return;
    }
    c.tls.write("forged!!");
    std::string record = c.take();
    record[record.size() - 1] = static_cast<char>(record[record.size() - 1] ^ 1);  // the tag
    c.send_bytes(record);
    std::string after = c.read_plaintext(8);
    check(after.empty(), v + ": a record that does not authenticate ends the connection (" +
                             std::to_string(after.size()) + " bytes echoed)");
    // tlsterm sends bad_record_mac where the kernel still lets it: a
    // kernel that refused a record marks the socket failed, and then no
    // alert can go out. Said, not checked.
    WOLFSSL_ALERT_HISTORY alerts{};
    wolfSSL_get_alert_history(c.tls.ssl(), &alerts);
    std::printf("%s: after the forged record the client %s\n", v.c_str(),
                alerts.last_rx.code == 20 ? "read a bad_record_mac alert"
                : alerts.last_rx.code > 0
                    ? ("read alert " + std::to_string(alerts.last_rx.code)).c_str()
                    : "read no alert (the connection ended)");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: edge_check TLSTERM_PID PORT ORIGIN_PORT\n");
        return 2;
    }
    ::signal(SIGPIPE, SIG_IGN);
    const pid_t tlsterm = static_cast<pid_t>(std::atoi(argv[1]));
    const auto port = static_cast<uint16_t>(std::atoi(argv[2]));
    pid_t echo = start_echo(static_cast<uint16_t>(std::atoi(argv[3])));
    long before = cpu_ticks(tlsterm);
    pause_ms(2000);
    idle_ticks = cpu_ticks(tlsterm) - before;
    std::printf("tlsterm idle for 2 s: %ld clock ticks of CPU\n", idle_ticks);
    for (int version : {0, TLS1_2_VERSION}) {
        const std::string v = version == 0 ? "TLS 1.3" : "TLS 1.2";
        cut_across_the_switch(port, version, v);
        stalled_record(port, version, v, tlsterm, stall::during_switch);
        stalled_record(port, version, v, tlsterm, stall::on_kernel_records);
        stalled_record(port, version, v, tlsterm, stall::after_a_record);
        forged_record(port, version, v);
    }
    ::kill(echo, SIGKILL);
    ::waitpid(echo, nullptr, 0);
    std::printf("%d failed\n", vm::failures);
    return vm::failures == 0 ? 0 : 1;
}
