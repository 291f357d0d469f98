#!/usr/bin/env python3
"""TLS client behaviours curl and openssl s_client cannot script, on Python's
ssl module (OpenSSL).

  half-close PORT CA       send "ping", TCP half-close (FIN, no close_notify),
                           print everything received until the server's close
  slow-reader PORT CA PATH send a GET for PATH, read nothing for a while, print
                           "stalled", then read 1 MiB and exit
  many PORT CA N           N concurrent connections each doing GET /; print
                           "ok K" with K the number of 200 responses
  mtls PORT CA CERT KEY N P  N connections presenting CERT/KEY, P at a time,
                           each doing GET /; print "K ok, F failed" and the
                           first errors
  raw PORT CA DATA         send DATA ("\\r\\n" escapes decoded) in one write;
                           print everything received until the server
                           closes or 5 s pass without a byte
  pipeline PORT CA N       send N GET /headers?n=I requests back to back, each
                           in its own TLS record, then read the responses;
                           print "in order K" (K responses, each naming its I)
  garbage PORT CA N SEED   N connections each sending a mangled HTTP request
                           (random cuts, flips, insertions of CR/LF/NUL/space,
                           huge lengths), most ending with a FIN; print
                           "survived N" (a crash refuses the next connection)
  websocket PORT CA PATH N upgrade PATH to a WebSocket, send N messages of
                           growing size, check each echo; print "echoed N"
  slow-body PORT CA PATH LENGTH MS MAX [FAST]
                           PUT PATH with a LENGTH-byte body, its first FAST
                           bytes (default 0) with the head, the rest one byte
                           every MS milliseconds, for at most MAX seconds;
                           prints as slow-head does
  linger PORT CA PATH     POST PATH declaring a 64 MiB body, send 1 MiB of it,
                           read the response to its end (close_notify), then
                           keep sending 16 KiB every 50 ms; print the
                           response's first line and "reset after S s" (the
                           time from the response to the first failed send,
                           at most 10 s: else "not reset")
  slow-head PORT CA MS MAX start a request head and send one more byte of it
                           every MS milliseconds, for at most MAX seconds;
                           print "answered after S s: FIRST-LINE" (or
                           "closed after S s", "still open after S s")
"""
import asyncio
import os
import socket
import ssl
import sys
import time


def context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    return ctx


def half_close(port, ca):
    raw = socket.create_connection(("127.0.0.1", port))
    s = context(ca).wrap_socket(raw, server_hostname="localhost")
    s.sendall(b"ping")
    # FIN below TLS: wrap_socket took over `raw`, so half-close a duplicate
    # of the same socket.
    dup = socket.socket(fileno=os.dup(s.fileno()))
    dup.shutdown(socket.SHUT_WR)
    dup.close()
    got = b""
    clean = False
    while True:
        try:
            data = s.recv(65536)
        except ssl.SSLEOFError:
            break  # closed without close_notify
        if not data:
            clean = True  # close_notify
            break
        got += data
    print(repr(got.decode()), "close_notify" if clean else "no close_notify", flush=True)


def slow_reader(port, ca, path):
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s = context(ca).wrap_socket(raw, server_hostname="localhost")
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    print("stalled", flush=True)
    time.sleep(float(sys.argv[5]) if len(sys.argv) > 5 else 3)
    n = 0
    while n < (1 << 20):
        data = s.recv(65536)
        if not data:
            break
        n += len(data)
    print(f"read {n}", flush=True)


async def one(port, ctx):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                   server_hostname="localhost")
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data.startswith(b"HTTP/1.1 200")


async def many(port, ca, n):
    ctx = context(ca)
    # All connections are opened before any completes: hold them with a barrier.
    results = await asyncio.gather(*(one(port, ctx) for _ in range(n)), return_exceptions=True)
    ok = sum(1 for r in results if r is True)
    errors = [repr(r) for r in results if r is not True][:3]
    print(f"ok {ok}", *errors, flush=True)


async def mtls(port, ca, cert, key, n, parallel):
    ctx = context(ca)
    ctx.load_cert_chain(cert, key)
    gate = asyncio.Semaphore(parallel)

    async def gated():
        async with gate:
            return await asyncio.wait_for(one(port, ctx), 60)

    results = await asyncio.gather(*(gated() for _ in range(n)), return_exceptions=True)
    ok = sum(1 for r in results if r is True)
    errors = [repr(r) for r in results if r is not True][:3]
    print(f"{ok} ok, {n - ok} failed", *errors, flush=True)


def idle(port, ca, n, version):
    """Opens n TLS connections (handshakes complete), says "open N", holds
    them until killed (at most 10 minutes)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 64)), hard))
    ctx = context(ca)
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    conns = []
    for _ in range(n):
        conns.append(ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                     server_hostname="localhost"))
    print(f"open {len(conns)}", flush=True)
    time.sleep(600)


def raw(port, ca, text):
    data = text.encode("latin-1").decode("unicode_escape").encode("latin-1")
    s = context(ca).wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                server_hostname="localhost")
    s.settimeout(5)
    s.sendall(data)
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, ssl.SSLError, ConnectionResetError):
        pass
    sys.stdout.write(got.decode("latin-1"))


def pipeline(port, ca, n):
    s = context(ca).wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                server_hostname="localhost")
    s.settimeout(30)
    for i in range(n):
        last = "Connection: close\r\n" if i == n - 1 else ""
        s.sendall(f"GET /headers?n={i} HTTP/1.1\r\nHost: localhost\r\n{last}\r\n".encode())
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    text = got.decode("latin-1")
    seen = [int(line.split("=")[2]) for line in text.split("\n") if line.startswith("uri=/headers?n=")]
    print(f"in order {len(seen)}" if seen == list(range(len(seen))) else f"out of order {seen[:20]}",
          flush=True)


def garbage(port, ca, n, seed):
    import random
    from mangle import mangle
    rnd = random.Random(seed)
    base = [
        b"GET /headers HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n",
        b"POST /upload/g HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
        b"PUT /upload/g HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    ]
    noise = [b"\r", b"\n", b"\x00", b" ", b":", b"\t", b"\xff", b"9" * 30, b"-1", b"chunked",
             b"Content-Length: 99999999999999999999\r\n", b"Transfer-Encoding: chunked\r\n",
             b"\r\n\r\n", b"HTTP/1.1"]
    survived = 0
    for _ in range(n):
        data = mangle(rnd, rnd.choice(base) * rnd.randint(1, 3), noise, rnd.randint(1, 6))
        try:
            s = context(ca).wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                        server_hostname="localhost")
            s.settimeout(1)
            s.sendall(data)
            if rnd.random() < 0.7:
                # The stream ends here (FIN below TLS): the server must give
                # up on whatever it was waiting for.
                dup = socket.socket(fileno=os.dup(s.fileno()))
                dup.shutdown(socket.SHUT_WR)
                dup.close()
            while s.recv(65536):
                pass
            survived += 1
        except socket.timeout:
            survived += 1  # a request still waiting for more bytes: the server is alive
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            survived += 1
    print(f"survived {survived}", flush=True)


def websocket(port, ca, path, n):
    import base64
    import struct
    s = context(ca).wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                server_hostname="localhost")
    s.settimeout(10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            print("closed before the 101:", buf.decode("latin-1"))
            return
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101"):
        print("no upgrade:", head.decode("latin-1"))
        return

    def recv_exact(k):
        nonlocal buf
        while len(buf) < k:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed")
            buf += chunk
        out, buf = buf[:k], buf[k:]
        return out

    for i in range(n):
        payload = os.urandom(10 * (i + 1) ** 3)
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x82, 0x80 | length)
        elif length < 65536:
            head = struct.pack("!BBH", 0x82, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x82, 0x80 | 127, length)
        s.sendall(head + mask + bytes(b ^ mask[j % 4] for j, b in enumerate(payload)))
        b0, b1 = recv_exact(2)
        size = b1 & 0x7F
        if size == 126:
            size = struct.unpack("!H", recv_exact(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", recv_exact(8))[0]
        if recv_exact(size) != payload:
            print(f"message {i} came back different")
            return
    print(f"echoed {n}", flush=True)


def trickle(port, ca, prefix, length, interval_ms, max_s):
    """Sends `prefix`, then one byte every interval_ms (at most `length`,
    None for no end) until the server answers or closes, or max_s pass."""
    # TLSTERM_PEER_SOURCE: the client address to connect from (127.0.0.2, say).
    source = os.environ.get("TLSTERM_PEER_SOURCE")
    raw = socket.create_connection(("127.0.0.1", port),
                                   source_address=(source, 0) if source else None)
    s = context(ca).wrap_socket(raw, server_hostname="localhost")
    s.sendall(prefix)
    s.settimeout(interval_ms / 1000)
    start = time.monotonic()
    got = b""
    sent = 0
    while time.monotonic() - start < max_s:
        try:
            data = s.recv(65536)
            if not data:
                break
            got += data
            if b"\r\n" in got:
                break
        except (socket.timeout, TimeoutError):
            if length is None or sent < length:
                try:
                    s.sendall(b"a")
                    sent += 1
                except OSError:
                    break
        except (OSError, ssl.SSLError):
            break
    took = time.monotonic() - start
    if got:
        first = got.split(b"\r\n")[0].decode()
        print(f"answered after {took:.1f} s: {first}", flush=True)
    elif took < max_s:
        print(f"closed after {took:.1f} s", flush=True)
    else:
        print(f"still open after {took:.1f} s", flush=True)


def slow_head(port, ca, interval_ms, max_s):
    trickle(port, ca, b"GET /slow HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", None,
            interval_ms, max_s)


def slow_body(port, ca, path, length, interval_ms, max_s, fast=0):
    head = (f"PUT {path} HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    trickle(port, ca, head + b"a" * fast, length - fast, interval_ms, max_s)


def linger(port, ca, path):
    raw = socket.create_connection(("127.0.0.1", port))
    s = context(ca).wrap_socket(raw, server_hostname="localhost")
    s.sendall((f"POST {path} HTTP/1.1\r\nHost: localhost\r\n"
               f"Content-Length: {64 << 20}\r\n\r\n").encode() + b"b" * (1 << 20))
    got = b""
    s.settimeout(10)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            got += data
    except (OSError, ssl.SSLError):
        pass
    print(got.split(b"\r\n")[0].decode(), flush=True)
    start = time.monotonic()
    while time.monotonic() - start < 10:
        try:
            s.sendall(b"b" * 16384)
        except (OSError, ssl.SSLError):
            print(f"reset after {time.monotonic() - start:.1f} s", flush=True)
            return
        time.sleep(0.05)
    print("not reset", flush=True)


def main():
    mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "half-close":
        half_close(port, ca)
    elif mode == "slow-reader":
        slow_reader(port, ca, sys.argv[4])
    elif mode == "many":
        asyncio.run(many(port, ca, int(sys.argv[4])))
    elif mode == "raw":
        raw(port, ca, sys.argv[4])
    elif mode == "idle":
        idle(port, ca, int(sys.argv[4]), sys.argv[5])
    elif mode == "pipeline":
        pipeline(port, ca, int(sys.argv[4]))
    elif mode == "garbage":
        garbage(port, ca, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "websocket":
        websocket(port, ca, sys.argv[4], int(sys.argv[5]))
    elif mode == "slow-body":
        slow_body(port, ca, sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]),
                  int(sys.argv[8]) if len(sys.argv) > 8 else 0)
    elif mode == "linger":
        linger(port, ca, sys.argv[4])
    elif mode == "slow-head":
        slow_head(port, ca, int(sys.argv[4]), float(sys.argv[5]))
    elif mode == "mtls":
        asyncio.run(mtls(port, ca, sys.argv[4], sys.argv[5], int(sys.argv[6]),
                         int(sys.argv[7])))


if __name__ == "__main__":
    main()
