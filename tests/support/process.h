// Runs a child process to completion and captures its output: how tests
// drive real peers (openssl, curl) and the tlsterm binary.
#pragma once

#include <string>
#include <vector>

namespace tlsterm::test {

struct process_result {
    int exit_code = -1;  // -1 when killed by a signal
    int signal = 0;
    std::string out;
    std::string err;
};

// argv[0] is looked up in PATH. Killed after `timeout_s` seconds.
process_result run_process(const std::vector<std::string>& argv, int timeout_s = 60);

inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

}  // namespace tlsterm::test
