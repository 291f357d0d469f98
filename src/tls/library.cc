#include "tls/wolfssl.h"

#include <cstdlib>
#include <mutex>

namespace tlsterm::tls {

void init_library() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
            std::abort();  // no TLS is possible; nothing sensible to return
        }
    });
}

}  // namespace tlsterm::tls
