#include "http/message_parser.h"

#include <algorithm>
#include <cctype>

namespace tlsterm::http {

namespace {

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

message_parser& self(llhttp_t* p) {
    return *static_cast<message_parser*>(p->data);
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::ranges::equal(a, b, [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool valid_authority(std::string_view a) {
    std::string_view host = a;
    std::string_view port;
    if (!a.empty() && a.front() == '[') {
        std::size_t close = a.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        host = a.substr(1, close - 1);
        std::string_view rest = a.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') {
            return false;
        }
        port = rest.empty() ? rest : rest.substr(1);
        if (host.empty() || !std::ranges::all_of(host, [](char c) {
                return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
            })) {
            return false;
        }
    } else {
        std::size_t colon = a.rfind(':');
        if (colon != std::string_view::npos) {
            host = a.substr(0, colon);
            port = a.substr(colon + 1);
        }
        // reg-name: unreserved / pct-encoded / sub-delims (no '@', '/', ':').
        constexpr std::string_view allowed = "-._~%!$&'()*+,;=";
        if (!std::ranges::all_of(host, [&](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                       allowed.find(c) != std::string_view::npos;
            })) {
            return false;
        }
    }
    return port.size() <= 5 && std::ranges::all_of(port, [](char c) {
               return std::isdigit(static_cast<unsigned char>(c)) != 0;
           });
}

const header* message_head::find(std::string_view name) const {
    for (const auto& h : headers) {
        if (iequals(h.name, name)) {
            return &h;
        }
    }
    return nullptr;
}

message_parser::message_parser(kind k, message_limits limits) : _kind(k), _limits(limits) {
    llhttp_settings_init(&_settings);
    _settings.on_message_begin = &on_message_begin;
    _settings.on_url = &on_url;
    _settings.on_status = &on_status;
    _settings.on_header_field = &on_header_field;
    _settings.on_header_value = &on_header_value;
    _settings.on_header_value_complete = &on_header_value_complete;
    _settings.on_headers_complete = &on_headers_complete;
    _settings.on_body = &on_body;
    _settings.on_chunk_header = &on_chunk_header;
    _settings.on_chunk_complete = &on_chunk_complete;
    _settings.on_message_complete = &on_message_complete;
    reset();
}

void message_parser::reset() {
    llhttp_init(&_parser, _kind == kind::request ? HTTP_REQUEST : HTTP_RESPONSE, &_settings);
    _parser.data = this;
    _head = message_head{};
    _head_request = false;
    _error = parse_error{};
    _in_head = true;
    _field_open = false;
    _head_bytes = 0;
    _line = line::start;
    _failed = false;
    _pending = event::need_more;
    _body = {};
    _has_body = false;
    _end_pending = false;
}

int message_parser::fail(int status, std::string reason) {
    if (_kind == kind::response) {
        status = 502;  // whatever the upstream got wrong, the client sees a bad gateway
    }
    if (!_failed) {
        _failed = true;
        _error = parse_error{status, std::move(reason)};
    }
    return -1;  // HPE_USER: llhttp stops
}

int message_parser::on_message_begin(llhttp_t* p) {
    auto& r = self(p);
    r._head = message_head{};
    r._in_head = true;
    r._field_open = false;
    r._head_bytes = 0;
    r._line = line::start;
    return 0;
}

int message_parser::on_url(llhttp_t* p, const char* at, std::size_t len) {
    auto& r = self(p);
    if (r._head.target.size() + len > r._limits.max_target_bytes) {
        return r.fail(414, "request target longer than " +
                               std::to_string(r._limits.max_target_bytes) + " bytes");
    }
    r._head.target.append(at, len);
    return 0;
}

int message_parser::on_status(llhttp_t* p, const char* at, std::size_t len) {
    auto& r = self(p);
    if (r._head.reason.size() + len > r._limits.max_target_bytes) {
        return r.fail(502, "status line reason longer than " +
                               std::to_string(r._limits.max_target_bytes) + " bytes");
    }
    r._head.reason.append(at, len);
    return 0;
}

int message_parser::on_header_field(llhttp_t* p, const char* at, std::size_t len) {
    auto& r = self(p);
    if (!r._field_open) {
        if (r._head.headers.size() == r._limits.max_headers) {
            return r.fail(431,
                          "more than " + std::to_string(r._limits.max_headers) + " header fields");
        }
        r._head.headers.emplace_back();
        r._field_open = true;
    }
    r._head.headers.back().name.append(at, len);
    return 0;
}

int message_parser::on_header_value(llhttp_t* p, const char* at, std::size_t len) {
    auto& r = self(p);
    r._head.headers.back().value.append(at, len);
    return 0;
}

int message_parser::on_header_value_complete(llhttp_t* p) {
    auto& r = self(p);
    auto& h = r._head.headers.back();
    h.value = std::string(trim(h.value));
    r._field_open = false;
    return 0;
}

int message_parser::on_headers_complete(llhttp_t* p) {
    auto& r = self(p);
    auto& head = r._head;
    head.version_major = p->http_major;
    head.version_minor = p->http_minor;
    for (const auto& h : head.headers) {
        if (h.name.empty()) {
            return r.fail(400, "a header field with an empty name");
        }
    }
    if (r._kind == kind::request) {
        head.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
        if (int rc = r.check_request(); rc != 0) {
            return rc;
        }
        // What llhttp would only refuse after this pause, when the head
        // may already be on its way to an origin (RFC 9112 section 6.3).
        if ((p->flags & F_TRANSFER_ENCODING) != 0 && (p->flags & F_CHUNKED) == 0) {
            return r.fail(400, "Transfer-Encoding whose final coding is not chunked");
        }
        if (p->upgrade != 0 && p->method != HTTP_CONNECT && !r.upgrade_allowed()) {
            p->upgrade = 0;  // an ordinary request: the next bytes are the next request
        }
    } else {
        head.status = p->status_code;
    }
    // RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message is
    // faulty framing (an HTTP/1.0 peer does not know chunked, and an
    // intermediary between may read the body otherwise): refused, and the
    // connection closed after the answer.
    if ((p->flags & F_TRANSFER_ENCODING) != 0 && head.version_major == 1 &&
        head.version_minor == 0) {
        return r.fail(400, "Transfer-Encoding in an HTTP/1.0 message");
    }
    if ((p->flags & F_CHUNKED) != 0) {
        head.chunked = true;
    } else if ((p->flags & F_CONTENT_LENGTH) != 0) {
        head.content_length = p->content_length;
    }
    head.keep_alive = llhttp_should_keep_alive(p) != 0;
    head.upgrade = p->upgrade != 0;
    r._in_head = false;
    r._pending = event::head;
    if (r._kind == kind::response &&
        (r._head_request || head.status / 100 == 1 || head.status == 204 || head.status == 304)) {
        // No body after a response to HEAD, nor in a 1xx, 204 or 304
        // (RFC 9112 section 6.3), whatever Content-Length says: llhttp
        // would otherwise wait for that many bytes and take the next
        // response for them. Its "skip body" return value cannot be
        // combined with a pause, so tell it through flags.
        p->flags |= F_SKIPBODY;
    }
    return HPE_PAUSED;
}

int message_parser::check_request() {
    auto& head = _head;
    std::size_t hosts = 0;
    for (const auto& h : head.headers) {
        if (iequals(h.name, "host")) {
            ++hosts;
        } else if (iequals(h.name, "expect")) {
            if (!iequals(h.value, "100-continue")) {
                return fail(417, "unsupported Expect: " + h.value);
            }
            head.expect_continue = true;
        }
    }
    if (head.version_major != 1) {
        return fail(505, "HTTP/" + std::to_string(head.version_major) + "." +
                             std::to_string(head.version_minor) + " is not HTTP/1.x");
    }
    if (hosts > 1) {
        return fail(400, "more than one Host header");
    }
    if (hosts == 0 && head.version_major == 1 && head.version_minor >= 1) {
        return fail(400, "HTTP/1.1 request without a Host header");
    }
    if (const header* h = head.find("host"); h != nullptr && !valid_authority(h->value)) {
        return fail(400, "invalid Host \"" + h->value + "\" (userinfo or a character no host has)");
    }
    std::string_view target = head.target;
    for (std::string_view scheme : {"http://", "https://"}) {
        if (target.size() >= scheme.size() && iequals(target.substr(0, scheme.size()), scheme)) {
            std::string_view rest = target.substr(scheme.size());
            std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
            if (authority.empty() || !valid_authority(authority)) {
                return fail(400, "invalid authority in the request target \"" +
                                     std::string(authority) + "\"");
            }
        }
    }
    return 0;
}

bool message_parser::upgrade_allowed() const {
    const header* u = _head.find("upgrade");
    if (u == nullptr) {
        return false;
    }
    // Upgrade: a list of protocol[/version]; one honoured name is enough,
    // and the forwarder passes the header on as the client sent it.
    bool allowed = false;
    std::string_view list = u->value;
    while (!list.empty() && !allowed) {
        std::size_t comma = list.find(',');
        std::string_view item = trim(list.substr(0, comma));
        std::string_view name = item.substr(0, item.find('/'));
        allowed = std::ranges::any_of(_limits.upgrade_protocols,
                                      [&](const std::string& p) { return iequals(p, name); });
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    return allowed;
}

int message_parser::on_body(llhttp_t* p, const char* at, std::size_t len) {
    if (len == 0) {
        return 0;  // llhttp flushes an empty span when a call ends in the body
    }
    auto& r = self(p);
    // No pause here: llhttp cannot resume a body span paused from its own
    // callback (the next call would lose or misplace body bytes). The piece
    // is held and the parser stops at the next pausable callback: the end
    // of the chunk or of the message, or the end of the input.
    r._body = std::span(reinterpret_cast<const uint8_t*>(at), len);
    r._has_body = true;
    return 0;
}

int message_parser::on_chunk_header(llhttp_t* p) {
    // llhttp takes any size that fits 64 bits; none that large is a body
    // (nginx refuses sizes past its off_t too), and waiting for it would
    // hold the connection until a timeout.
    if (p->content_length > max_chunk_size) {
        return self(p).fail(400, "chunk size " + std::to_string(p->content_length) +
                                     " larger than any body (at most " +
                                     std::to_string(max_chunk_size) + ")");
    }
    return 0;
}

int message_parser::on_chunk_complete(llhttp_t* p) {
    return self(p)._has_body ? HPE_PAUSED : 0;  // one body piece per call
}

int message_parser::on_message_complete(llhttp_t* p) {
    auto& r = self(p);
    r._pending = event::end;
    return HPE_PAUSED;
}

bool message_parser::scan_head(std::span<const uint8_t> bytes) {
    for (uint8_t c : bytes) {
        switch (_line) {
            case line::start:
                if (c == '\n') {
                    _line = line::name;
                }
                break;
            case line::name:
                if (c == ':') {
                    _line = line::value;
                } else if (c == ' ' || c == '\t') {
                    // A field line starting with whitespace (obs-fold) or a
                    // name followed by whitespace before its colon.
                    fail(400, "whitespace in a header field name or obsolete line folding");
                    return false;
                } else if (c == '\n') {
                    _line = line::name;  // the empty line ending the head
                }
                break;
            case line::value:
                if (c == '\n') {
                    _line = line::name;
                }
                break;
        }
    }
    return true;
}

message_parser::result message_parser::next(std::span<const uint8_t> data) {
    if (_failed) {
        return {event::error, 0, {}};
    }
    if (_end_pending) {
        _end_pending = false;  // the message ended right after the piece returned last
        return {event::end, 0, {}};
    }
    _pending = event::need_more;
    _has_body = false;
    // Never a null pointer, even for no input: llhttp carries an open body
    // span over to the next call by pointing it at the new input, and a
    // null there loses the span (its end would then be measured from 0).
    static const char no_input = 0;
    const char* begin = data.empty() ? &no_input : reinterpret_cast<const char*>(data.data());
    llhttp_errno_t rc = llhttp_execute(&_parser, begin, data.size());
    std::size_t consumed = data.size();
    if (rc == HPE_PAUSED || rc == HPE_PAUSED_UPGRADE) {
        consumed = static_cast<std::size_t>(llhttp_get_error_pos(&_parser) - begin);
        if (rc == HPE_PAUSED) {
            llhttp_resume(&_parser);
        }
    }
    bool head_done = _pending == event::head;
    if (_in_head || head_done) {
        // The bytes that belonged to the head: all of them, or up to the
        // pause at the end of the headers.
        if (!scan_head(data.first(consumed))) {
            return {event::error, consumed, {}};
        }
        _head_bytes += consumed;
        if (_head_bytes > _limits.max_head_bytes) {
            fail(431,
                 "request head larger than " + std::to_string(_limits.max_head_bytes) + " bytes");
            return {event::error, consumed, {}};
        }
    }
    if (_failed) {
        return {event::error, consumed, {}};
    }
    if (rc != HPE_OK && rc != HPE_PAUSED && rc != HPE_PAUSED_UPGRADE) {
        int status = rc == HPE_INVALID_METHOD ? 501 : rc == HPE_INVALID_VERSION ? 505 : 400;
        fail(status, std::string(llhttp_errno_name(rc)) + ": " + llhttp_get_error_reason(&_parser));
        return {event::error, consumed, {}};
    }
    if (_has_body) {
        _end_pending = _pending == event::end;
        return {event::body, consumed, _body};
    }
    return {_pending, consumed, {}};
}

message_parser::result message_parser::finish() {
    if (_failed) {
        return {event::error, 0, {}};
    }
    _pending = event::need_more;
    llhttp_errno_t rc = llhttp_finish(&_parser);
    if (rc == HPE_PAUSED) {
        llhttp_resume(&_parser);
    }
    if (rc != HPE_OK && rc != HPE_PAUSED) {
        fail(400, _in_head ? "connection closed inside a message head"
                           : "connection closed before the end of the message body");
        return {event::error, 0, {}};
    }
    return {_pending, 0, {}};
}

}  // namespace tlsterm::http
