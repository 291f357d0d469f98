// The one way tlsterm includes wolfSSL: options.h (the configure-time
// defines of the build in .deps/wolfssl) must come before any other wolfSSL
// header, or structure layouts disagree with the library.
#pragma once

// IWYU pragma: begin_exports
// options.h must stay first: no include sorting here.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
// clang-format on
// IWYU pragma: end_exports

namespace tlsterm::tls {

// Initializes wolfSSL once per process; safe to call from any thread.
void init_library();

}  // namespace tlsterm::tls
