#!/usr/bin/env python3
"""Raw TCP upstreams for tlsterm's integration tests.

modes:
  echo-then-bye  echo every byte; at EOF from tlsterm send "BYE\\n" and close
                 (shows a client's half-close reaching the upstream as FIN, and
                 the upstream's close reaching the client as close_notify)
  reset          read a little, then close with RST
  greet-and-hold send "HELLO\\n" and keep the connection open
  silent         read requests and never answer
  answer-once    answer the first request of each connection (keep-alive,
                 "answer N" with N counting all answers), then close the
                 connection when the next request arrives, unanswered
  garbage        answer each request with a response, mostly mangled (random
                 cuts, flips, CR/LF/NUL, huge lengths; seeded per
                 connection), then close (always after a mangled one)
  websocket-echo answer a WebSocket upgrade (RFC 6455) with 101, then echo
                 every text or binary message; close on a close frame
  proxy-v2       read a PROXY protocol v2 header, then answer one HTTP request
                 with the header decoded as JSON
  echo-head      answer each request (keep-alive) with 200 and the request
                 head as received for its body; a request with an Upgrade
                 header gets 101 and then every byte echoed (so a tunnel
                 the proxy should not have opened shows)
Prints "listening on 127.0.0.1:PORT" once ready.
"""
import base64
import hashlib
import ipaddress
import json
import socket
import struct
import sys
import threading


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise OSError("short read")
        data += chunk
    return data


def decode_tlvs(data):
    out = []
    while data:
        kind, length = data[0], struct.unpack("!H", data[1:3])[0]
        out.append((kind, data[3:3 + length]))
        data = data[3 + length:]
    return out


def read_proxy_v2(conn):
    head = recv_exact(conn, 16)
    if head[:12] != b"\r\n\r\n\x00\r\nQUIT\n":
        return {"error": "bad signature", "bytes": head.hex()}
    length = struct.unpack("!H", head[14:16])[0]
    body = recv_exact(conn, length)
    out = {"version_command": head[12], "family": head[13]}
    if head[13] == 0x11:
        out["source"] = f"{ipaddress.IPv4Address(body[0:4])}:{struct.unpack('!H', body[8:10])[0]}"
        out["destination"] = f"{ipaddress.IPv4Address(body[4:8])}:{struct.unpack('!H', body[10:12])[0]}"
        body = body[12:]
    elif head[13] == 0x21:
        out["source"] = f"[{ipaddress.IPv6Address(body[0:16])}]:{struct.unpack('!H', body[32:34])[0]}"
        out["destination"] = f"[{ipaddress.IPv6Address(body[16:32])}]:{struct.unpack('!H', body[34:36])[0]}"
        body = body[36:]
    for kind, value in decode_tlvs(body):
        if kind == 0x01:
            out["alpn"] = value.decode()
        elif kind == 0x02:
            out["authority"] = value.decode()
        elif kind == 0x20:
            out["ssl_client"] = value[0]
            out["ssl_verify"] = struct.unpack("!I", value[1:5])[0]
            for sub, sv in decode_tlvs(value[5:]):
                name = {0x21: "ssl_version", 0x22: "ssl_cn", 0x23: "ssl_cipher"}.get(sub, f"ssl_{sub:#x}")
                out[name] = sv.decode()
    return out


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("closed inside the request head")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, rest


def read_frame(conn, pending):
    """One WebSocket frame from the client (masked): (opcode, payload, rest)."""
    buf = pending

    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("closed inside a frame")
            buf += chunk

    need(2)
    opcode, length = buf[0] & 0x0F, buf[1] & 0x7F
    at = 2
    if length == 126:
        need(4)
        length, at = struct.unpack("!H", buf[2:4])[0], 4
    elif length == 127:
        need(10)
        length, at = struct.unpack("!Q", buf[2:10])[0], 10
    need(at + 4 + length)
    mask = buf[at:at + 4]
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(buf[at + 4:at + 4 + length]))
    return opcode, payload, buf[at + 4 + length:]


def frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def websocket_echo(conn):
    _, headers, rest = read_head(conn)
    if headers.get("upgrade", "").lower() != "websocket" or "sec-websocket-key" not in headers:
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        conn.close()
        return
    accept = base64.b64encode(hashlib.sha1(
        (headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    while True:
        opcode, payload, rest = read_frame(conn, rest)
        if opcode == 0x8:
            conn.sendall(frame(0x8, payload))
            conn.close()
            return
        conn.sendall(frame(opcode, payload))


answers = 0
answers_lock = threading.Lock()


def answer_once(conn):
    global answers
    _, headers, rest = read_head(conn)
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("closed inside the body")
        rest += chunk
    with answers_lock:
        answers += 1
        body = f"answer {answers}\n".encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() +
                 b"\r\n\r\n" + body)
    conn.recv(65536)  # the next request: never answered
    conn.close()


connections = 0


def garbage_responses(conn):
    global connections
    import random
    from mangle import mangle
    with answers_lock:
        connections += 1
        rnd = random.Random(connections)
    base = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw",
        b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n",
    ]
    noise = [b"\r", b"\n", b"\x00", b" ", b":", b"\xff", b"9" * 30,
             b"Content-Length: 99999999999999999999\r\n", b"Transfer-Encoding: chunked\r\n",
             b"Content-Length: 7\r\n", b"\r\n\r\n"]
    while True:
        read_head(conn)
        original = rnd.choice(base)
        data = mangle(rnd, original, noise, rnd.randint(0, 5))
        conn.sendall(data)
        # Closing ends what a mangled response left open (a body read to
        # the end of the connection, a length never reached); a connection
        # kept alive after a well-formed response serves the next request.
        framed = original in (base[0], base[1], base[2], base[5])
        if data != original or not framed or rnd.random() < 0.5:
            conn.close()
            return


def echo_head(conn):
    pending = b""
    while True:
        while b"\r\n\r\n" not in pending:
            chunk = conn.recv(65536)
            if not chunk:
                conn.close()
                return
            pending += chunk
        head, pending = pending.split(b"\r\n\r\n", 1)
        names = {line.partition(b":")[0].strip().lower() for line in head.split(b"\r\n")[1:]}
        if b"upgrade" in names:
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                         b"Upgrade: h2c\r\n\r\n" + pending)
            while True:
                data = conn.recv(65536)
                if not data:
                    conn.close()
                    return
                conn.sendall(data)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(pending) < length:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("closed inside the body")
            pending += chunk
        pending = pending[length:]
        body = head + b"\r\n"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() +
                     b"\r\n\r\n" + body)


def serve(conn, mode):
    try:
        if mode == "echo-then-bye":
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            conn.sendall(b"BYE\n")
            conn.close()
        elif mode == "reset":
            conn.recv(1)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        elif mode == "proxy-v2":
            info = read_proxy_v2(conn)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                request += chunk
            body = json.dumps(info, sort_keys=True).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() +
                         b"\r\nConnection: close\r\n\r\n" + body)
            conn.close()
        elif mode == "silent":
            while conn.recv(65536):
                pass
            conn.close()
        elif mode == "garbage":
            garbage_responses(conn)
        elif mode == "answer-once":
            answer_once(conn)
        elif mode == "websocket-echo":
            websocket_echo(conn)
        elif mode == "echo-head":
            echo_head(conn)
        elif mode == "greet-and-hold":
            conn.sendall(b"HELLO\n")
            while conn.recv(65536):
                pass
            conn.close()
    except OSError:
        conn.close()


def main():
    mode = sys.argv[1]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1024)
    print(f"listening on 127.0.0.1:{srv.getsockname()[1]}", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


if __name__ == "__main__":
    main()
