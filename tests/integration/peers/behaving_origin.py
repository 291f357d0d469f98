#!/usr/bin/env python3
"""HTTP origins with the connection behaviours real origins have, one
listener per behaviour, for tlsterm's origin matrix.

usage: behaving_origin.py [--tls CERT KEY] BEHAVIOUR...

behaviours (each answers 200 with the body "<behaviour> <METHOD> <path>
body=<request body bytes>\\n" unless said otherwise; for a browser, paths
ending in index.html, .css, .js and .svg get a page whose sub-resources
those are, with their content types):
  keep-alive      HTTP/1.1 with Content-Length, the connection kept
  http10-length   HTTP/1.0 with Content-Length, then close
  close-length    HTTP/1.1 Connection: close with Content-Length, then close
  close-chunked   HTTP/1.1 Connection: close with a chunked body, then close
  close-late      HTTP/1.1 Connection: close with Content-Length, closed
                  300 ms after the complete response
  http10-eof      HTTP/1.0 without a length: the body ends at close
  idle-race       the first request on a connection answered (kept alive);
                  the connection is closed as the next request arrives on
                  it, unanswered (plain: unread, so with RST)
  extra-response  keep-alive, but each response is followed by a second,
                  unsolicited one (plain: in the same write; TLS: in its own
                  record, in the same TCP segment)
  reset-partial   the head (Content-Length: 1000) and 100 bytes of body,
                  then a reset
  early-response  a request with a body is answered (Connection: close)
                  after its head, before its body is read; others as
                  keep-alive

With --tls every listener speaks TLS (Python's ssl) with CERT and KEY.
Prints "listening BEHAVIOUR 127.0.0.1:PORT" per listener, then "ready".
Logs, one line each, flushed:
  request BEHAVIOUR METHOD PATH conn=N     a request was read (and answered)
  dropped BEHAVIOUR PATH conn=N            a request arrived on a connection
                                           closed unanswered (idle-race)
"""
import itertools
import socket
import ssl
import struct
import sys
import threading
import time

print_lock = threading.Lock()
conn_ids = itertools.count(1)


def log(line):
    with print_lock:
        print(line, flush=True)


class Reader:
    """Buffered reads from one connection; None from any read at EOF."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = b""

    def fill(self):
        try:
            chunk = self.conn.recv(65536)
        except (OSError, ssl.SSLError):
            chunk = b""
        if not chunk:
            return False
        self.buf += chunk
        return True

    def line(self):
        while b"\r\n" not in self.buf:
            if not self.fill():
                return None
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n):
        while len(self.buf) < n:
            if not self.fill():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def read_head(r):
    """(method, path, headers) of the next request; None at EOF."""
    start = r.line()
    while start == b"":
        start = r.line()  # a stray CRLF between requests
    if start is None:
        return None
    method, path, _ = start.decode("latin-1").split(" ", 2)
    headers = {}
    while True:
        line = r.line()
        if line is None:
            return None
        if line == b"":
            return method, path, headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()


def read_body(r, headers):
    """The request body's length; None when the stream ended inside it."""
    if "content-length" in headers:
        body = r.exactly(int(headers["content-length"]))
        return None if body is None else len(body)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        total = 0
        while True:
            size_line = r.line()
            if size_line is None:
                return None
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while True:  # trailers up to the empty line
                    t = r.line()
                    if t is None:
                        return None
                    if t == b"":
                        return total
            if r.exactly(size + 2) is None:
                return None
            total += size
    return 0


PAGE = """<!doctype html>
<html><head><title>origin page</title>
<link rel="stylesheet" href="style.css"><script src="app.js"></script>
<script>
// Defined before the images: an image that arrives before a later script is
// parsed would call an undefined handler, and its result would be lost.
const seen = {};
function loaded(name) { seen[name] = "ok"; }
function failed(name) { seen[name] = "failed"; }
</script></head>
<body><p id="styled">styled</p>
<img src="one.svg" onload="loaded('one')" onerror="failed('one')">
<img src="two.svg" onload="loaded('two')" onerror="failed('two')">
<p id="verdict">pending</p>
<script>
window.addEventListener("load", async () => {
  seen.css = getComputedStyle(document.getElementById("styled")).color === "rgb(0, 128, 0)"
      ? "ok" : "failed";
  seen.js = window.appLoaded ? "ok" : "failed";
  for (const name of ["three.txt", "four.txt"]) {
    try {
      const r = await fetch(name);
      seen[name] = r.status === 200 && (await r.text()).includes(name) ? "ok" : "status " + r.status;
    } catch (e) {
      seen[name] = "error " + e;
    }
  }
  document.getElementById("verdict").textContent =
      Object.keys(seen).sort().map(k => k + "=" + seen[k]).join(" ");
});
</script></body></html>
"""

SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">'
       '<rect width="4" height="4" fill="green"/></svg>')


def content(path, default):
    """(body, content type) for a path: a page with sub-resources, or the
    text that names the request."""
    name = path.split("?")[0].rsplit("/", 1)[-1]
    if name == "index.html":
        return PAGE.encode(), "text/html"
    if name.endswith(".css"):
        return b"#styled { color: rgb(0, 128, 0); }\n", "text/css"
    if name.endswith(".js"):
        return b"window.appLoaded = true;\n", "text/javascript"
    if name.endswith(".svg"):
        return SVG.encode(), "image/svg+xml"
    return default, "text/plain"


def has_body(headers):
    return int(headers.get("content-length", "0")) > 0 or "transfer-encoding" in headers


def reset(conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def respond(conn, behaviour, body, kind="text/plain"):
    ctype = f"Content-Type: {kind}\r\n"
    if behaviour == "http10-length":
        head = f"HTTP/1.0 200 OK\r\n{ctype}Content-Length: {len(body)}\r\n\r\n"
        conn.sendall(head.encode() + body)
        return False
    if behaviour in ("close-length", "close-late"):
        head = (f"HTTP/1.1 200 OK\r\nConnection: close\r\n{ctype}"
                f"Content-Length: {len(body)}\r\n\r\n")
        conn.sendall(head.encode() + body)
        if behaviour == "close-late":
            time.sleep(0.3)
        return False
    if behaviour == "close-chunked":
        half = len(body) // 2
        out = (b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n" +
               ctype.encode() + b"\r\n")
        for piece in (body[:half], body[half:]):
            out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        conn.sendall(out + b"0\r\n\r\n")
        return False
    if behaviour == "http10-eof":
        conn.sendall(b"HTTP/1.0 200 OK\r\n" + ctype.encode() + b"\r\n" + body)
        return False
    if behaviour == "reset-partial":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"p" * 100)
        time.sleep(0.1)  # the partial response is read before the reset
        reset(conn)
        return False
    head = f"HTTP/1.1 200 OK\r\n{ctype}Content-Length: {len(body)}\r\n\r\n"
    if behaviour == "extra-response":
        extra = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nunsolicited\n"
        if isinstance(conn, ssl.SSLSocket):
            # Two records in one segment: tlsterm reads both at once. (Sent
            # apart, the second could arrive after tlsterm reused the
            # connection for the next request, and nothing on the wire
            # would tell it from that request's response.)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            conn.sendall(head.encode() + body)
            conn.sendall(extra)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        else:
            conn.sendall(head.encode() + body + extra)
        return True
    conn.sendall(head.encode() + body)
    return True


def serve(conn, behaviour, tls):
    cid = next(conn_ids)
    r = Reader(conn)
    answered = 0
    try:
        while True:
            if behaviour == "idle-race" and answered > 0:
                # The origin's idle timeout fires as the next request arrives.
                if tls:
                    if not r.fill():
                        return
                    data = r.buf
                else:
                    data = conn.recv(65536, socket.MSG_PEEK)
                    if not data:
                        return
                path = data.split(b" ")[1].decode("latin-1") if b" " in data else "?"
                log(f"dropped {behaviour} {path} conn={cid}")
                conn.close()  # plain: unread bytes make this a reset
                return
            head = read_head(r)
            if head is None:
                return
            method, path, headers = head
            if behaviour == "early-response" and has_body(headers):
                log(f"request {behaviour} {method} {path} conn={cid}")
                body = f"{behaviour} {method} {path} early\n".encode()
                conn.sendall(
                    f"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
                    .encode() + body)
                # What the client still sends is read and dropped for a
                # while (a lingering close), so the response is not reset.
                conn.settimeout(2)
                deadline = time.monotonic() + 2
                while time.monotonic() < deadline and r.fill():
                    r.buf = b""
                return
            length = read_body(r, headers)
            if length is None:
                return
            log(f"request {behaviour} {method} {path} conn={cid}")
            body, kind = content(path, f"{behaviour} {method} {path} body={length}\n".encode())
            answered += 1
            if not respond(conn, behaviour, body, kind):
                return
    except (OSError, ssl.SSLError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def accept_loop(sock, behaviour, context):
    while True:
        conn, _ = sock.accept()
        if context is not None:
            try:
                conn.settimeout(10)
                conn = context.wrap_socket(conn, server_side=True)
                conn.settimeout(None)
            except (OSError, ssl.SSLError):
                conn.close()
                continue
        threading.Thread(target=serve, args=(conn, behaviour, context is not None),
                         daemon=True).start()


def main():
    args = sys.argv[1:]
    context = None
    if args[:1] == ["--tls"]:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args[1], args[2])
        args = args[3:]
    threads = []
    for behaviour in args:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        log(f"listening {behaviour} 127.0.0.1:{sock.getsockname()[1]}")
        t = threading.Thread(target=accept_loop, args=(sock, behaviour, context), daemon=True)
        t.start()
        threads.append(t)
    log("ready")
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
