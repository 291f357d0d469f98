// HTTP/1.1 message framing on llhttp (compiled from Debian's node-llhttp
// sources): requests from clients in a listener's HTTP mode, responses from
// upstreams. One message at a time, the body streamed in pieces as it
// arrives, never buffered whole.
//
// Stricter than llhttp alone, against request smuggling and header
// confusion (RFC 9112). Both directions: Content-Length with
// Transfer-Encoding, duplicate Content-Length, bad chunk sizes, bare LF,
// obs-fold line folding and whitespace between a field name and its colon
// are refused. Requests also: duplicate or missing Host, an Expect other
// than 100-continue, a Transfer-Encoding whose final coding is not chunked,
// an empty field name, a Host or absolute-form authority with userinfo or
// other characters an authority cannot hold, an HTTP version other than
// 1.x (505). Both: Transfer-Encoding in an HTTP/1.0 message (RFC 9112
// section 6.1), a chunk size over max_chunk_size. All of them before the head event, so nothing of
// a refused head is ever forwarded. A refused request gets the status to answer with (400, 414,
// 417, 431, 501, 505); a refused response is a 502.
//
// The parser stops after each event, so a connection handles pipelined
// messages one by one and applies backpressure by not calling next().
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

// ASCII case-insensitive equality (field names, tokens).
bool iequals(std::string_view a, std::string_view b);

struct header {
    std::string name;   // as received
    std::string value;  // surrounding whitespace removed
};

struct message_head {
    std::string method;  // requests
    std::string target;  // requests
    int status = 0;      // responses
    std::string reason;  // responses
    uint8_t version_major = 1;
    uint8_t version_minor = 1;
    std::vector<header> headers;
    std::optional<uint64_t> content_length;
    bool chunked = false;
    bool keep_alive = true;        // the connection may carry another message after this one
    bool upgrade = false;          // a protocol upgrade (e.g. WebSocket) was requested or accepted
    bool expect_continue = false;  // Expect: 100-continue

    // The first header named `name` (case-insensitive); nullptr when none.
    const header* find(std::string_view name) const;
};

// Over a limit, a request gets the status noted; a response is a 502.
struct message_limits {
    std::size_t max_head_bytes = 64 * 1024;   // start line + headers: 431
    std::size_t max_headers = 100;            // 431
    std::size_t max_target_bytes = 8 * 1024;  // request target (414) or reason phrase
    // Requests: the Upgrade protocols honoured (lower case). A request
    // asking for none of them is parsed on as an ordinary message, so the
    // bytes after it are read as the next request, never as a tunnel.
    std::vector<std::string> upgrade_protocols{"websocket"};
};

// An authority (Host value, or the authority of an absolute-form target)
// as RFC 9110 section 7.2 allows it: a reg-name, IPv4 or [IPv6] host,
// optionally ":port"; no userinfo, no path. Empty is valid (no host).
bool valid_authority(std::string_view authority);

struct parse_error {
    // What to answer a client: 400, 414, 417, 431 or 501 for a request;
    // 502 for a response the upstream got wrong.
    int status = 400;
    std::string reason;  // one phrase for the log
};

// The largest chunk size accepted (2^62): larger ones are refused when
// their size line is read (400; a response's 502).
inline constexpr uint64_t max_chunk_size = uint64_t{1} << 62;

class message_parser {
  public:
    enum class kind : uint8_t { request, response };
    explicit message_parser(kind k, message_limits limits = {});
    message_parser(const message_parser&) = delete;
    message_parser& operator=(const message_parser&) = delete;

    // Starts over as if new: for a byte stream other than the one parsed so
    // far (a response read from another upstream connection, or from the
    // same one for the next request). Nothing of an earlier message (its
    // head, a pending event, an error, llhttp's keep-alive verdict) remains.
    void reset();

    // Responses: the request being answered was HEAD, so no body follows
    // whatever the headers say. Set before the response's head is parsed.
    void expect_head_response(bool head) { _head_request = head; }

    enum class event : uint8_t {
        need_more,  // every byte was consumed; feed more
        head,       // head() holds the start line and headers
        body,       // result::body is the next piece of the body
        end,        // the message is complete; next() starts the next one
        error,      // error() says what to answer; the connection must close
    };
    struct result {
        event what = event::need_more;
        std::size_t consumed = 0;       // bytes of the input used
        std::span<const uint8_t> body;  // event::body: a view into the consumed part of the input
    };

    // Parses `data` up to the next event.
    result next(std::span<const uint8_t> data);

    // The peer ended its stream: a response read until the connection
    // closes is complete (event::end); a message cut short is an error;
    // between messages, need_more.
    result finish();

    const message_head& head() const { return _head; }
    const parse_error& error() const { return _error; }

  private:
    static int on_message_begin(llhttp_t* p);
    static int on_url(llhttp_t* p, const char* at, std::size_t len);
    static int on_status(llhttp_t* p, const char* at, std::size_t len);
    static int on_header_field(llhttp_t* p, const char* at, std::size_t len);
    static int on_header_value(llhttp_t* p, const char* at, std::size_t len);
    static int on_header_value_complete(llhttp_t* p);
    static int on_headers_complete(llhttp_t* p);
    static int on_body(llhttp_t* p, const char* at, std::size_t len);
    static int on_chunk_header(llhttp_t* p);
    static int on_chunk_complete(llhttp_t* p);
    static int on_message_complete(llhttp_t* p);
    int fail(int status, std::string reason);
    int check_request();
    bool upgrade_allowed() const;
    // Checks the raw head bytes llhttp accepted for what it tolerates.
    bool scan_head(std::span<const uint8_t> bytes);

    llhttp_settings_t _settings{};
    llhttp_t _parser{};
    kind _kind;
    message_limits _limits;
    message_head _head;
    bool _head_request = false;
    parse_error _error;
    bool _in_head = true;      // before on_headers_complete of the current message
    bool _field_open = false;  // a header name is being received
    std::size_t _head_bytes = 0;
    enum class line : uint8_t { start, name, value };
    line _line = line::start;  // where scan_head is in the head
    bool _failed = false;
    event _pending = event::need_more;
    std::span<const uint8_t> _body;
    bool _has_body = false;     // this call produced a body piece
    bool _end_pending = false;  // the message ended in the call that returned the last piece
};

}  // namespace tlsterm::http
