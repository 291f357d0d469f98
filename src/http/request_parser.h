// HTTP/1.1 request framing on llhttp (compiled from Debian's node-llhttp
// sources), for the HTTP mode of a listener: one request at a time, body
// streamed in pieces as it arrives, never buffered whole.
//
// Stricter than llhttp alone, against request smuggling and header
// confusion (RFC 9112): obs-fold line folding, whitespace between a field
// name and its colon, duplicate or missing Host, Content-Length with
// Transfer-Encoding, duplicate Content-Length, bad chunk sizes and bare LF
// are refused with 400. Limits on the head (431), the target (414), and
// unknown methods (501) give the status to answer with.
//
// The parser stops after each event, so a connection handles pipelined
// requests one by one and applies backpressure by not calling next().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <llhttp.h>

namespace tlsterm::http {

struct header {
    std::string name;   // as received
    std::string value;  // surrounding whitespace removed
};

struct request_head {
    std::string method;
    std::string target;
    uint8_t version_major = 1;
    uint8_t version_minor = 1;
    std::vector<header> headers;
    std::optional<uint64_t> content_length;
    bool chunked = false;
    bool keep_alive = true;        // the connection may carry another request after this one
    bool upgrade = false;          // a protocol upgrade (e.g. WebSocket) was requested
    bool expect_continue = false;  // Expect: 100-continue

    // The first header named `name` (case-insensitive); nullptr when none.
    const header* find(std::string_view name) const;
};

struct request_limits {
    std::size_t max_head_bytes = 64 * 1024;   // request line + headers; over it: 431
    std::size_t max_headers = 100;            // over it: 431
    std::size_t max_target_bytes = 8 * 1024;  // over it: 414
};

struct parse_error {
    int status = 400;    // what to answer: 400, 414, 417, 431 or 501
    std::string reason;  // one phrase for the log
};

class request_parser {
  public:
    explicit request_parser(request_limits limits = {});
    request_parser(const request_parser&) = delete;
    request_parser& operator=(const request_parser&) = delete;

    enum class event : uint8_t {
        need_more,  // every byte was consumed; feed more
        head,       // head() holds the request line and headers
        body,       // result::body is the next piece of the body
        end,        // the request is complete; next() starts the next one
        error,      // error() says what to answer; the connection must close
    };
    struct result {
        event what = event::need_more;
        std::size_t consumed = 0;       // bytes of the input used
        std::span<const uint8_t> body;  // for event::body: a view into the input
    };

    // Parses `data` up to the next event.
    result next(std::span<const uint8_t> data);

    const request_head& head() const { return _head; }
    const parse_error& error() const { return _error; }

  private:
    static int on_message_begin(llhttp_t* p);
    static int on_url(llhttp_t* p, const char* at, std::size_t len);
    static int on_header_field(llhttp_t* p, const char* at, std::size_t len);
    static int on_header_value(llhttp_t* p, const char* at, std::size_t len);
    static int on_header_value_complete(llhttp_t* p);
    static int on_headers_complete(llhttp_t* p);
    static int on_body(llhttp_t* p, const char* at, std::size_t len);
    static int on_message_complete(llhttp_t* p);
    int fail(int status, std::string reason);
    // Checks the raw head bytes llhttp accepted for what it tolerates.
    bool scan_head(std::span<const uint8_t> bytes);

    llhttp_settings_t _settings{};
    llhttp_t _parser{};
    request_limits _limits;
    request_head _head;
    parse_error _error;
    bool _in_head = true;      // before on_headers_complete of the current request
    bool _field_open = false;  // a header name is being received
    std::size_t _head_bytes = 0;
    enum class line : uint8_t { request, name, value };
    line _line = line::request;  // where scan_head is in the head
    bool _failed = false;
    event _pending = event::need_more;
    std::span<const uint8_t> _body;
};

}  // namespace tlsterm::http
