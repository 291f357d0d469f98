// HTTP/1.1 framing cost per message: a browser-sized request head and a
// small response, parsed whole and fed in TLS-record-sized pieces. The
// userspace share of a proxied request; tools/bench-http reports it next to
// the end-to-end numbers.
#include <benchmark/benchmark.h>

#include <span>
#include <string>

#include "http/message_parser.h"

namespace {

using tlsterm::http::message_parser;
using event = message_parser::event;

const std::string request =
    "GET /api/v1/items?page=2&sort=desc HTTP/1.1\r\n"
    "Host: api.example.org\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.org/items\r\n"
    "Origin: https://www.example.org\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=6f1c2a9b7e3d4c5a8b9c0d1e2f3a4b5c; theme=dark; consent=1\r\n"
    "Sec-Fetch-Dest: empty\r\n"
    "Sec-Fetch-Mode: cors\r\n"
    "Sec-Fetch-Site: same-site\r\n"
    "\r\n";

const std::string response =
    "HTTP/1.1 200 OK\r\n"
    "Server: origin\r\n"
    "Date: Mon, 23 Nov 2026 12:00:00 GMT\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 27\r\n"
    "Cache-Control: no-store\r\n"
    "\r\n"
    "{\"items\":[1,2,3],\"page\":2}\n";

std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Parses one message per iteration, to its end.
void parse_messages(benchmark::State& state, message_parser::kind kind, const std::string& text) {
    message_parser p(kind);
    for (auto _ : state) {
        auto data = bytes(text);
        for (;;) {
            auto r = p.next(data);
            data = data.subspan(r.consumed);
            benchmark::DoNotOptimize(r.body.data());
            if (r.what == event::end || r.what == event::error) {
                break;
            }
        }
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}

void BM_ParseRequestHead(benchmark::State& state) {
    parse_messages(state, message_parser::kind::request, request);
}
BENCHMARK(BM_ParseRequestHead);

void BM_ParseResponse(benchmark::State& state) {
    parse_messages(state, message_parser::kind::response, response);
}
BENCHMARK(BM_ParseResponse);

}  // namespace

BENCHMARK_MAIN();
