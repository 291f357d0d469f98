#include "proxy/http_forwarder.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <utility>

#include "common/log.h"
#include "http/client_identity.h"

namespace tlsterm::proxy {

namespace {

// Hop-by-hop fields (RFC 9110 section 7.6.1) plus what tlsterm frames
// itself; never forwarded in either direction.
constexpr std::array<std::string_view, 9> hop_by_hop = {
    "connection",        "keep-alive", "proxy-connection", "te",    "trailer",
    "transfer-encoding", "upgrade",    "content-length",   "expect"};

void lower_into(std::string_view in, std::string& out) {
    out.assign(in);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c + ('a' - 'A'));
        }
    }
}

std::string lower(std::string_view in) {
    std::string out;
    lower_into(in, out);
    return out;
}

// Calls f(token) for each comma-separated token of a list field value,
// surrounding whitespace removed, empty tokens skipped.
template <typename F>
void for_each_token(std::string_view value, F&& f) {
    while (!value.empty()) {
        std::size_t comma = value.find(',');
        std::string_view token = value.substr(0, comma);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
            token.remove_prefix(1);
        }
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
            token.remove_suffix(1);
        }
        if (!token.empty()) {
            f(token);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        value.remove_prefix(comma + 1);
    }
}

// Which fields of one message head are not forwarded: the hop-by-hop set
// and the names its Connection headers list. Names are compared lower-cased,
// each lowered once.
class hop_filter {
  public:
    explicit hop_filter(const http::message_head& head) {
        std::string name;
        for (const auto& h : head.headers) {
            lower_into(h.name, name);
            if (name != "connection") {
                continue;
            }
            for_each_token(h.value, [&](std::string_view token) {
                _listed.emplace_back();
                lower_into(token, _listed.back());
            });
        }
    }

    // `lower_name` is lower case.
    bool drops(std::string_view lower_name) const {
        return std::ranges::find(hop_by_hop, lower_name) != hop_by_hop.end() ||
               std::ranges::find(_listed, lower_name) != _listed.end();
    }

  private:
    std::vector<std::string> _listed;
};

// The host part of a Host value or authority: lower case, port removed.
std::string host_name(std::string_view authority) {
    if (!authority.empty() && authority.front() == '[') {
        return lower(authority.substr(0, authority.find(']') + 1));
    }
    return lower(authority.substr(0, authority.rfind(':') == std::string_view::npos
                                         ? authority.size()
                                         : authority.rfind(':')));
}

// The Transfer-Encoding tokens of `head` other than chunked (e.g. gzip),
// comma-separated: the body tlsterm forwards is still coded that way, so
// its own chunked framing goes after them.
std::string content_codings(const http::message_head& head) {
    std::string out;
    std::string token;
    for (const auto& h : head.headers) {
        if (!http::iequals(h.name, "transfer-encoding")) {
            continue;
        }
        for_each_token(h.value, [&](std::string_view t) {
            lower_into(t, token);
            if (token != "chunked") {
                out += (out.empty() ? "" : ", ") + token;
            }
        });
    }
    return out;
}

std::string chunked_after(const http::message_head& head) {
    std::string codings = content_codings(head);
    return codings.empty() ? std::string("chunked") : codings + ", chunked";
}

bool name_matches(const std::vector<std::string>& patterns, std::string_view name) {
    for (const auto& p : patterns) {
        if (p.starts_with("*.")) {
            std::string_view suffix = std::string_view(p).substr(1);  // ".example.com"
            if (name.size() > suffix.size() && name.ends_with(suffix) &&
                name.substr(0, name.size() - suffix.size()).find('.') == std::string_view::npos) {
                return true;
            }
        } else if (p == name) {
            return true;
        }
    }
    return false;
}

bool idempotent(std::string_view method) {
    return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
           method == "PUT" || method == "DELETE";
}

std::string_view status_text(int status) {
    switch (status) {
        case 400:
            return "Bad Request";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 414:
            return "URI Too Long";
        case 417:
            return "Expectation Failed";
        case 421:
            return "Misdirected Request";
        case 431:
            return "Request Header Fields Too Large";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Error";
    }
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

std::span<const uint8_t> bytes_of(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A piece of a body as tlsterm frames it: as is, or as one chunk.
void append_body(std::vector<uint8_t>& out, std::span<const uint8_t> piece, bool chunked) {
    if (chunked) {
        char size[24];
        int n = std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
        out.insert(out.end(), size, size + n);
    }
    out.insert(out.end(), piece.begin(), piece.end());
    if (chunked) {
        out.insert(out.end(), {'\r', '\n'});
    }
}

}  // namespace

std::unique_ptr<conn::stream_handler> http_routes::make(conn::client_side& client,
                                                        conn::listener_runtime& listener,
                                                        conn::conn_env& env, byte_queue& input,
                                                        conn::client_facts facts) {
    return std::make_unique<http_forwarder>(client, *this, listener, env, input, std::move(facts));
}

http_forwarder::http_forwarder(conn::client_side& client, const http_routes& routes,
                               conn::listener_runtime& listener, conn::conn_env& env,
                               byte_queue& input, conn::client_facts facts)
    : _client(client),
      _routes(routes),
      _listener(listener),
      _env(env),
      _input(input),
      _facts(std::move(facts)),
      _request(http::message_parser::kind::request,
               http::message_limits{listener.config->http.max_head_bytes,
                                    listener.config->http.max_headers, 8 * 1024,
                                    listener.config->http.upgrade_protocols}),
      _response(http::message_parser::kind::response) {}

http_forwarder::~http_forwarder() {
    abort();
}

void http_forwarder::abort() {
    _phase = phase::ended;
    _to_client.clear();
    _to_origin.clear();
    let_go();
}

void http_forwarder::let_go() {
    if (waiting()) {
        _x.pool->cancel(*this);
        _req = req::head;  // nothing is on its way
    }
    if (_x.conn != nullptr) {
        std::exchange(_x.conn, nullptr)->abandon();
    }
}

void http_forwarder::drain() {
    if (_phase == phase::ended) {
        return;
    }
    _phase = phase::last_exchange;
    _x.close_after = true;
    if (_req == req::head && _input.empty()) {
        _phase = phase::ended;
        finish_client(close_reason::done);
    }
}

void http_forwarder::retire() {
    // The next response says Connection: close; an idle wait is not cut.
    if (_phase == phase::serving) {
        _phase = phase::last_exchange;
    }
}

void http_forwarder::on_request_timeout() {
    if (_phase == phase::ended) {
        return;
    }
    if (_req == req::head) {
        _x.method.clear();  // no request line yet: not the previous request's
        _x.target.clear();
        reply_error(408,
                    "request head not complete within " +
                        std::to_string(_listener.gen->limits->header_timeout_ms) +
                        " ms of its first byte (header_timeout_ms)",
                    close_reason::header_timeout);
    } else if (_req == req::buffering) {
        reply_error(408,
                    (_x.buffering_chunks ? "chunked body (" + std::to_string(_x.early_body.size()) +
                                               " bytes so far) not complete"
                                         : std::to_string(_input.size()) + " of " +
                                               std::to_string(_x.buffered_body) + " body bytes") +
                        " within " + std::to_string(_listener.gen->limits->body_timeout_ms) +
                        " ms of the head (body_timeout_ms)",
                    close_reason::body_timeout);
    } else if (_req == req::body) {
        // A streamed body, one period on: too slow, unless tlsterm itself
        // held it back (input waiting for a slow origin).
        uint64_t wanted = static_cast<uint64_t>(_listener.gen->limits->body_min_rate) *
                          _listener.gen->limits->body_timeout_ms / 1000;
        if (_x.body_progress >= wanted || !_input.empty()) {
            _x.body_progress = 0;
            _client.client_deadline(conn::request_deadline::body);
            return;
        }
        std::string cause =
            "request body slower than " + std::to_string(_listener.gen->limits->body_min_rate) +
            " bytes/s (" + std::to_string(_x.body_progress) + " bytes in " +
            std::to_string(_listener.gen->limits->body_timeout_ms) + " ms; body_min_rate)";
        if (_resp == resp::none) {
            reply_error(408, cause, close_reason::body_timeout);
        } else {
            log_error(408, cause);
            abort();
            _client.client_abort(close_reason::body_timeout);
        }
    }
}

void http_forwarder::log_error(int status, const std::string& cause) const {
    TLSTERM_LOG(log_level::info, "%s: listener %s: %d %s %s: %s", _facts.peer.c_str(),
                _listener.config->name.c_str(), status, _x.method.empty() ? "-" : _x.method.c_str(),
                _x.target.empty() ? "-" : _x.target.c_str(), cause.c_str());
}

// ---- output ---------------------------------------------------------------------
// Bytes for either side collect here while one event is handled and go out
// in one write at its end: a response head and its body share a TLS record
// and a TCP segment, and a chunk's size line, data and CRLF a single send.

void http_forwarder::emit_client(std::span<const uint8_t> bytes) {
    _to_client.insert(_to_client.end(), bytes.begin(), bytes.end());
}

void http_forwarder::emit_origin(std::span<const uint8_t> bytes) {
    _to_origin.insert(_to_origin.end(), bytes.begin(), bytes.end());
}

void http_forwarder::flush() {
    if (!_to_origin.empty()) {
        if (_x.conn != nullptr) {
            _x.conn->send(_to_origin);
        }
        _to_origin.clear();
    }
    if (!_to_client.empty()) {
        _client.client_send(_to_client);
        _to_client.clear();  // keeps its capacity for the next response
    }
}

std::size_t http_forwarder::client_backlog() const {
    return _client.client_backlog() + _to_client.size();
}

void http_forwarder::finish_client(close_reason why) {
    flush();
    _client.client_finish(why);
}

// ---- client side ----------------------------------------------------------------

void http_forwarder::on_client_input() {
    pump();
}

// Never re-entered: what it calls answers later (the pool, the client's
// close) or only changes state (take_connection), and the loop goes on.
void http_forwarder::pump() {
    std::size_t before = _input.size();
    const std::size_t limit = _listener.gen->limits->max_buffered_bytes;
    const bool client_eof = _client.client_input_ended();
    while (_phase != phase::ended) {
        if (_req == req::head) {
            if (_input.empty()) {
                if (client_eof) {
                    _phase = phase::ended;
                    finish_client(close_reason::done);  // between requests: a clean end
                }
                break;
            }
            auto r = _request.next(_input.readable());
            _input.consume(r.consumed);
            if (r.what == http::message_parser::event::error) {
                reply_error(_request.error().status, _request.error().reason);
                break;
            }
            if (r.what == http::message_parser::event::head) {
                _client.client_deadline(conn::request_deadline::none);
                start_request();
                continue;
            }
            if (r.consumed > 0) {
                _client.client_deadline(conn::request_deadline::head);  // no-op when it had
            }
            if (_input.empty() && client_eof) {
                // The client left inside a request head: nothing to answer.
                _phase = phase::ended;
                finish_client(close_reason::done);
                break;
            }
            if (r.consumed == 0) {
                break;
            }
            continue;
        }
        if (_req == req::buffering && _x.buffering_chunks) {
            if (!buffer_chunks(client_eof)) {
                break;
            }
            continue;
        }
        if (_req == req::buffering) {
            if (_input.size() >= _x.buffered_body) {
                _client.client_deadline(conn::request_deadline::none);
                acquire_upstream();
                continue;
            }
            if (client_eof) {
                client_left_in_body();
            }
            break;  // more of the body to come
        }
        if (_req == req::body) {
            if (_x.conn == nullptr || _x.conn->backlog() + _to_origin.size() >= limit) {
                break;  // on_upstream_drained resumes
            }
            // Called even with no input: the end of a bodiless request
            // comes from the parser without another byte.
            auto r = _request.next(_input.readable());
            if (r.what == http::message_parser::event::body) {
                append_body(_to_origin, r.body, _x.request_chunked);
            }
            _input.consume(r.consumed);
            _x.body_progress += r.consumed;
            if (r.what == http::message_parser::event::error) {
                // The head went out already: the origin connection is
                // abandoned mid-request, and the client hears why unless a
                // response has begun.
                if (_resp == resp::none) {
                    reply_error(_request.error().status, _request.error().reason);
                } else {
                    log_error(_request.error().status, _request.error().reason);
                    abort();
                    _client.client_abort(close_reason::bad_request);
                }
                break;
            }
            if (r.what == http::message_parser::event::end) {
                if (_x.request_chunked) {
                    emit_origin(bytes_of("0\r\n\r\n"));
                }
                _client.client_deadline(conn::request_deadline::none);
                _req = req::sent;
                if (_resp == resp::none) {
                    _x.conn->await_response();
                }
                continue;
            }
            if (r.what == http::message_parser::event::need_more) {
                if (client_eof) {
                    client_left_in_body();
                }
                break;
            }
            continue;
        }
        if (_req == req::tunnel) {
            if (!_input.empty() && _x.conn != nullptr) {
                emit_origin(_input.readable());
                _input.consume(_input.size());
            }
            if (client_eof && _x.conn != nullptr) {
                // The client's end of the tunnel: passed on once everything
                // before it is sent (once); the origin's close then ends
                // the tunnel.
                flush();
                _x.conn->shutdown_write();
            }
            break;
        }
        break;  // waiting for a connection or a response
    }
    flush();
    if (_input.size() < before) {
        _client.client_input_consumed();
    }
}

void http_forwarder::start_request() {
    const http::message_head& head = _request.head();
    _env.counters.http_requests.fetch_add(1, std::memory_order_relaxed);
    // The previous exchange let go of its connection when it ended
    // (on_response_end); were it still attached or queued, its events
    // would reach this exchange.
    let_go();
    _x = exchange{};
    _x.method = head.method;
    _x.target = head.target;
    _x.close_after = !head.keep_alive || _client.client_input_ended() || _phase != phase::serving;
    _resp = resp::none;

    if (head.method == "CONNECT") {
        reply_error(405, "CONNECT is not supported");
        return;
    }
    // The authority: from an absolute-form target (it overrides Host),
    // else the Host header, else (HTTP/1.0) the server name.
    std::string_view target = head.target;
    std::string authority;
    std::string path(target);
    if (target.starts_with("http://") || target.starts_with("https://")) {
        std::string_view rest = target.substr(target.find("//") + 2);
        std::size_t slash = rest.find('/');
        authority = std::string(rest.substr(0, slash));
        path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    } else if (const http::header* h = head.find("host")) {
        authority = h->value;
    } else {
        authority = _facts.server_name;
    }
    if (path.empty() || (path.front() != '/' && path != "*")) {
        reply_error(400, "request target is neither a path nor an absolute URL");
        return;
    }
    std::string host = host_name(authority);

    // The client certificate was checked under the policy of the server
    // name; a Host served under another policy would bypass that check.
    if (_facts.verifies_clients && _listener.config->http.sni_host_binding) {
        bool same = _facts.server_name.empty()
                        ? _listener.tls->policy_for(host) == _listener.tls->policy_for("")
                        : host == _facts.server_name;
        if (!same) {
            reply_error(421, "Host \"" + host + "\" is not the server name \"" +
                                 _facts.server_name + "\" the client certificate was verified for");
            return;
        }
    }

    _x.pool = route(host, path);
    build_upstream_head(authority, path);
    // A body is read before an upstream connection is taken, whole when it
    // is small, else its first buffer_request_bytes: a client sending it
    // slowly holds no pooled connection meanwhile, and one that keeps it
    // up streams the rest (kept to body_min_rate). A chunked body is parsed
    // as it comes (buffer_chunks), so its framing is checked before any
    // origin sees the request.
    uint64_t buffer_limit = std::min<uint64_t>(_listener.config->http.buffer_request_bytes,
                                               _listener.gen->limits->max_buffered_bytes);
    const bool sized_body = head.content_length && *head.content_length > 0;
    if (buffer_limit > 0 && (sized_body || (head.chunked && !head.upgrade))) {
        if (head.expect_continue) {
            emit_client(bytes_of("HTTP/1.1 100 Continue\r\n\r\n"));  // tlsterm takes the body
        }
        _x.buffering_chunks = head.chunked;
        _x.buffered_body = sized_body ? std::min(*head.content_length, buffer_limit) : buffer_limit;
        _req = req::buffering;
        _client.client_deadline(conn::request_deadline::body);
        return;  // pump() goes on once the body (or the limit) is in
    }
    if (head.expect_continue && (head.chunked || head.content_length.value_or(0) > 0)) {
        _x.expect_continue_pending = true;
    }
    acquire_upstream();
}

// req::buffering a chunked body: parses what came into early_body (the
// data, framed again as one chunk when it goes out); false when it must
// wait for more (or the exchange ended), true once a connection was asked
// for.
bool http_forwarder::buffer_chunks(bool client_eof) {
    for (;;) {
        auto r = _request.next(_input.readable());
        if (r.what == http::message_parser::event::body) {
            _x.early_body.insert(_x.early_body.end(), r.body.begin(), r.body.end());
        }
        _input.consume(r.consumed);
        switch (r.what) {
            case http::message_parser::event::error:
                reply_error(_request.error().status, _request.error().reason);
                return false;
            case http::message_parser::event::end:
                _x.body_read = true;
                _client.client_deadline(conn::request_deadline::none);
                acquire_upstream();
                return true;
            case http::message_parser::event::need_more:
                if (client_eof) {
                    client_left_in_body();
                }
                return false;
            default:
                break;
        }
        if (_x.early_body.size() >= _x.buffered_body) {
            _client.client_deadline(conn::request_deadline::none);
            acquire_upstream();  // the rest streams
            return true;
        }
    }
}

// The client's stream ended inside a request body: the exchange is
// abandoned (the origin must not take a cut body for a whole one).
void http_forwarder::client_left_in_body() {
    log_error(0, "client closed the connection inside a request body");
    abort();
    _client.client_abort(close_reason::client_reset);
}

void http_forwarder::acquire_upstream() {
    _req = req::waiting;
    if (upstream::pooled_connection* c = _x.pool->acquire(*this)) {
        take_connection(*c);  // pump() goes on with it
    }
}

upstream::pool* http_forwarder::route(std::string_view host, std::string_view path) const {
    const auto& routes = _listener.config->routes;
    for (std::size_t i = 0; i < routes.size(); ++i) {
        const route_config& r = routes[i];
        if (!r.server_names.empty() && !name_matches(r.server_names, _facts.server_name)) {
            continue;
        }
        if (!r.hosts.empty() && !name_matches(r.hosts, host)) {
            continue;
        }
        if (!r.path_prefix.empty() && !path.starts_with(r.path_prefix)) {
            continue;
        }
        return _routes.route_pools[i];
    }
    return _routes.default_pool;
}

void http_forwarder::build_upstream_head(std::string_view authority, std::string_view path) {
    const http::message_head& head = _request.head();
    const http_listener_config& cfg = _listener.config->http;
    std::string& out = _x.upstream_head;
    out.clear();
    out.reserve(512 + _facts.identity.size());
    out.append(head.method);
    out.push_back(' ');
    out.append(path);
    out.append(" HTTP/1.1\r\n");
    bool has_host = false;
    hop_filter filter(head);
    std::string name;
    for (const auto& h : head.headers) {
        lower_into(h.name, name);
        if (name.find('_') != std::string::npos) {
            // CGI-style origins read X_Foo as X-Foo. Dropped unless allowed;
            // when allowed, checked below under its dashed spelling (so
            // hop-by-hop and identity spellings go), and never passed as
            // a spelling of Host or X-Forwarded-*, which tlsterm sets.
            std::ranges::replace(name, '_', '-');
            if (!cfg.underscores_in_headers || name == "host" || name.starts_with("x-forwarded-")) {
                continue;
            }
        }
        if (filter.drops(name)) {
            continue;
        }
        if (name == "host") {
            has_host = true;
            append_header(out, "Host", authority);  // the absolute-form authority when given
            continue;
        }
        if ((cfg.x_forwarded_for && name == "x-forwarded-for") ||
            (cfg.x_forwarded_proto && name == "x-forwarded-proto") ||
            (cfg.x_forwarded_host && name == "x-forwarded-host")) {
            continue;  // replaced below: a client's own values are not trusted
        }
        if (std::ranges::find(http::identity_header_names(), name) !=
            http::identity_header_names().end()) {
            continue;  // only tlsterm says who the client is
        }
        append_header(out, h.name, h.value);
    }
    if (!has_host && !authority.empty()) {
        append_header(out, "Host", authority);
    }
    _x.request_chunked = head.chunked;
    if (head.chunked) {
        append_header(out, "Transfer-Encoding", chunked_after(head));
    } else if (head.content_length) {
        append_header(out, "Content-Length", std::to_string(*head.content_length));
    }
    if (head.upgrade && head.method != "CONNECT") {
        if (const http::header* u = head.find("upgrade")) {
            append_header(out, "Connection", "upgrade");
            append_header(out, "Upgrade", u->value);
        }
    }
    if (cfg.x_forwarded_for) {
        append_header(out, "X-Forwarded-For", _facts.peer_ip);
    }
    if (cfg.x_forwarded_proto) {
        append_header(out, "X-Forwarded-Proto", "https");
    }
    if (cfg.x_forwarded_host && !authority.empty()) {
        append_header(out, "X-Forwarded-Host", authority);
    }
    out.append(_facts.identity);
    out.append("\r\n");
}

// ---- upstream side ----------------------------------------------------------------

void http_forwarder::on_connection(upstream::pooled_connection& c) {
    take_connection(c);
    pump();
}

void http_forwarder::take_connection(upstream::pooled_connection& c) {
    const bool retry = _req == req::retrying;
    _x.conn = &c;
    // The response is read from this connection's next byte on, by a
    // parser that knows nothing of the connection that answered before.
    _response.reset();
    _response.expect_head_response(_x.method == "HEAD");
    emit_origin(bytes_of(_x.upstream_head));
    if (_x.expect_continue_pending) {
        _x.expect_continue_pending = false;
        emit_client(bytes_of("HTTP/1.1 100 Continue\r\n\r\n"));
    }
    if (!_x.early_body.empty()) {
        append_body(_to_origin, _x.early_body, true);
        std::vector<uint8_t>().swap(_x.early_body);
    }
    if (_x.body_read) {
        emit_origin(bytes_of("0\r\n\r\n"));
    }
    if (retry || _x.body_read) {
        _req = req::sent;  // no body, or all of it above
        _x.conn->await_response();
        return;
    }
    _req = req::body;
    if (_listener.gen->limits->body_min_rate != 0) {
        _x.body_progress = 0;
        _client.client_deadline(conn::request_deadline::body);  // the minimum rate, per period
    }
}

void http_forwarder::on_no_connection(int status, const std::string& cause) {
    _req = req::head;  // nothing is on its way
    reply_error(status, cause);
}

void http_forwarder::on_upstream_drained() {
    if (_req == req::body) {
        pump();
    }
}

void http_forwarder::on_response_timeout() {
    _x.conn = nullptr;
    if (_resp == resp::none) {
        reply_error(504, "upstream " + _x.pool->name() + ": no response within " +
                             std::to_string(_x.pool->config().pool.response_timeout_ms) +
                             " ms (response_timeout_ms)");
    } else {
        fail_response("upstream " + _x.pool->name() + ": response timed out");
    }
}

void http_forwarder::on_upstream_closed(bool eof, const std::string& cause) {
    // Still alive (closing): whether it had served a request before.
    const bool was_reused = _x.conn != nullptr && _x.conn->requests() > 0;
    _x.conn = nullptr;
    if (_resp == resp::tunnel) {
        _phase = phase::ended;
        finish_client(close_reason::done);
        return;
    }
    if (_resp == resp::none) {
        const http::message_head& head = _request.head();
        bool bodyless = !head.chunked && head.content_length.value_or(0) == 0;
        if (was_reused && !_x.retried && !_x.response_bytes_seen && idempotent(_x.method) &&
            bodyless && _req == req::sent) {
            // The origin closed a kept-alive connection as the request
            // went out: an ordinary race; one more try on a new connection.
            _x.retried = true;
            _req = req::retrying;
            if (upstream::pooled_connection* fresh = _x.pool->acquire(*this, /*fresh=*/true)) {
                on_connection(*fresh);
            }
            return;
        }
        reply_error(502, "upstream " + _x.pool->name() + ": " + cause + " before a response");
        return;
    }
    if (eof && _resp == resp::body) {
        // A response delimited by the end of the connection.
        auto r = _response.finish();
        if (r.what == http::message_parser::event::end) {
            on_response_end(false);
            flush();
            return;
        }
    }
    fail_response("upstream " + _x.pool->name() + ": " + cause + " inside the response");
}

void http_forwarder::on_upstream_data(std::span<const uint8_t> bytes) {
    read_response(bytes);
    flush();
    if (_x.conn != nullptr && client_backlog() >= _listener.gen->limits->max_buffered_bytes) {
        _x.conn->pause_reads(true);  // the client reads slower than the origin sends
    }
}

void http_forwarder::read_response(std::span<const uint8_t> bytes) {
    _x.response_bytes_seen = true;
    while (_phase != phase::ended) {
        if (_resp == resp::tunnel) {
            if (!bytes.empty()) {
                emit_client(bytes);
            }
            break;
        }
        auto r = _response.next(bytes);
        if (r.what == http::message_parser::event::body) {
            append_body(_to_client, r.body, _x.response_chunked);
        }
        bytes = bytes.subspan(r.consumed);
        switch (r.what) {
            case http::message_parser::event::head:
                on_response_head();
                break;
            case http::message_parser::event::end:
                if (_resp == resp::head_sent_interim) {
                    _resp = resp::none;  // a 1xx: the final response follows
                    _response.expect_head_response(_x.method == "HEAD");
                    break;
                }
                if (_resp == resp::tunnel) {
                    break;  // the 101's (empty) message; the rest is the tunnel
                }
                on_response_end(!bytes.empty());
                return;
            case http::message_parser::event::error:
                if (_resp == resp::none) {
                    auto* c = _x.conn;
                    _x.conn = nullptr;
                    c->abandon();
                    reply_error(502, "upstream " + _x.pool->name() +
                                         ": invalid response: " + _response.error().reason);
                } else {
                    fail_response("upstream " + _x.pool->name() +
                                  ": invalid response body: " + _response.error().reason);
                }
                return;
            case http::message_parser::event::need_more:
            case http::message_parser::event::body:
                break;
        }
        if (r.what == http::message_parser::event::need_more) {
            break;
        }
    }
}

void http_forwarder::on_response_head() {
    const http::message_head& head = _response.head();
    const http::message_head& request = _request.head();
    if (head.status == 101) {
        if (!request.upgrade) {
            fail_response("upstream " + _x.pool->name() + ": 101 without an upgrade request");
            return;
        }
        std::string out = "HTTP/1.1 101 " + head.reason + "\r\n";
        for (const auto& h : head.headers) {
            if (!http::iequals(h.name, "content-length") &&
                !http::iequals(h.name, "transfer-encoding")) {
                append_header(out, h.name, h.value);
            }
        }
        out.append("\r\n");
        emit_client(bytes_of(out));
        _resp = resp::tunnel;
        _req = req::tunnel;
        _env.later.post(_pump_later);  // what the client sent after its request is the tunnel's
        return;
    }
    if (request.upgrade && head.status >= 200) {
        // The upgrade was refused. The request parser stopped at the
        // upgrade (what follows would be another protocol), so this
        // response is the connection's last.
        _x.close_after = true;
    }
    if (head.status >= 100 && head.status < 200) {
        _resp = resp::head_sent_interim;
        if (head.status == 100) {
            return;  // tlsterm answered the client's Expect itself
        }
    } else {
        _resp = resp::body;
    }
    bool client_11 = request.version_major == 1 && request.version_minor >= 1;
    bool bodyless =
        _x.method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304;
    _x.response_chunked = false;
    std::string out;
    out.reserve(256);
    out.append(client_11 ? "HTTP/1.1 " : "HTTP/1.0 ");
    out.append(std::to_string(head.status));
    out.push_back(' ');
    out.append(head.reason);
    out.append("\r\n");
    hop_filter filter(head);
    std::string name;
    for (const auto& h : head.headers) {
        lower_into(h.name, name);
        if (!filter.drops(name)) {
            append_header(out, h.name, h.value);
        }
    }
    if (bodyless) {
        if (const http::header* cl = head.find("content-length"); cl && _x.method == "HEAD") {
            append_header(out, "Content-Length", cl->value);
        }
    } else if (head.content_length) {
        append_header(out, "Content-Length", std::to_string(*head.content_length));
    } else if (client_11) {
        _x.response_chunked = true;
        append_header(out, "Transfer-Encoding", chunked_after(head));
    } else {
        _x.close_after = true;  // HTTP/1.0 takes no chunks: the body ends with the connection
    }
    if (head.status >= 200) {
        if (_x.close_after) {
            append_header(out, "Connection", "close");
        } else if (!client_11) {
            append_header(out, "Connection", "keep-alive");
        }
    }
    out.append("\r\n");
    emit_client(bytes_of(out));
}

void http_forwarder::on_response_end(bool extra_bytes) {
    if (_x.response_chunked) {
        emit_client(bytes_of("0\r\n\r\n"));
        _x.response_chunked = false;
    }
    _resp = resp::done;
    if (_req != req::sent) {
        // The origin answered before the request body was complete (413,
        // 401, ...): the rest of the body cannot be delivered, so neither
        // connection can carry another message.
        _x.close_after = true;
        if (_x.conn != nullptr) {
            auto* c = _x.conn;
            _x.conn = nullptr;
            c->abandon();
        }
    } else if (_x.conn != nullptr) {
        // Released reading: an idle connection must see the origin's EOF.
        std::exchange(_x.conn, nullptr)->release(_response.head().keep_alive && !extra_bytes);
    }
    if (_x.close_after || _phase == phase::ended) {
        _phase = phase::ended;
        finish_client(close_reason::done);
        return;
    }
    _req = req::head;
    _resp = resp::none;
    // The next pipelined request, if it already came, once this response's
    // delivery has returned.
    _env.later.post(_pump_later);
}

void http_forwarder::on_client_drained() {
    if (_x.conn != nullptr && _x.conn->reads_paused() &&
        client_backlog() <= _listener.gen->limits->max_buffered_bytes / 2) {
        _x.conn->pause_reads(false);
    }
}

void http_forwarder::reply_error(int status, const std::string& cause,
                                 std::optional<close_reason> why) {
    log_error(status, cause);
    _phase = phase::ended;
    let_go();
    bool upstream_failed = status == 502 || status == 503 || status == 504;
    if (upstream_failed) {
        _env.counters.http_upstream_errors.fetch_add(1, std::memory_order_relaxed);
    } else {
        _env.counters.http_client_errors.fetch_add(1, std::memory_order_relaxed);
    }
    std::string body = std::to_string(status) + " " + std::string(status_text(status)) + "\n";
    std::string out =
        "HTTP/1.1 " + std::to_string(status) + " " + std::string(status_text(status)) +
        "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    emit_client(bytes_of(out));
    finish_client(why               ? *why
                  : upstream_failed ? close_reason::upstream_error
                                    : close_reason::bad_request);
}

void http_forwarder::fail_response(const std::string& cause) {
    log_error(502, cause);
    _env.counters.http_upstream_errors.fetch_add(1, std::memory_order_relaxed);
    abort();
    _client.client_abort(close_reason::upstream_reset);  // the client sees the response cut short
}

}  // namespace tlsterm::proxy
