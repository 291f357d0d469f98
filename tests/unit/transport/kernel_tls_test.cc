// The kernel TLS probe and key installation on this machine's kernel. The
// kernel's own record layer is checked where it exists: in the VM
// (tests/vm/ktls_check.cc, ctest ktls_vm_kernel_records).
#include "transport/kernel_tls.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <iostream>

namespace tlsterm::transport {
namespace {

TEST(KernelTls, ProbeSaysWhatTheKernelLacks) {
    auto r = probe_kernel_tls();
    if (r) {
        std::cout << "[ ktls     ] this kernel carries TLS records (the VM test covers the rest)\n";
        return;
    }
    // A kernel without CONFIG_TLS (this project's build machine): the
    // reason names the option and the module.
    std::cout << "[ ktls     ] " << r.error() << "\n";
    EXPECT_NE(r.error().find("TCP_ULP"), std::string::npos) << r.error();
}

TEST(KernelTls, KeysOfTheWrongSizeAreRefusedBeforeTheKernel) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    const std::array<uint8_t, 32> key{};
    const std::array<uint8_t, 12> iv{};
    const std::array<uint8_t, 8> short_iv{};
    auto r = install_keys(fd, true, kernel_keys{kernel_cipher::aes_128_gcm, true, key, iv, 0});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("wrong size"), std::string::npos) << r.error();
    r = install_keys(fd, false,
                     kernel_keys{kernel_cipher::chacha20_poly1305, false, key, short_iv, 0});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("wrong size"), std::string::npos) << r.error();
    ::close(fd);
}

}  // namespace
}  // namespace tlsterm::transport
