#!/usr/bin/env python3
"""Crafted first flights for tlsterm's conformance tests, on a real socket.

  raw PORT HEX             send the bytes HEX (after "x" repeats: HEXxN sends
                           HEX N times), then print what the server answered:
                           "alert N" (the first record is an alert with
                           description N), "record T" (another record type),
                           "closed" (nothing), or "silent" (no answer in 5 s)
  fragmented PORT CA SIZE  a real TLS client (Python's ssl on memory BIOs)
                           whose ClientHello goes out in records carrying
                           SIZE handshake bytes each; then GET / and print
                           the status line
"""
import socket
import ssl
import sys


def first_answer(sock):
    sock.settimeout(5)
    data = b""
    try:
        while len(data) < 7:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, TimeoutError):
        if not data:
            return "silent"
    except ConnectionResetError:
        pass
    if not data:
        return "closed"
    if data[0] == 21 and len(data) >= 7:
        return f"alert {data[6]}"
    return f"record {data[0]}"


def raw(port, spec):
    payload = b""
    for part in spec.split("+"):
        hexpart, _, times = part.partition("x")
        payload += bytes.fromhex(hexpart) * (int(times) if times else 1)
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        sock.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass
    print(first_answer(sock), flush=True)


def records(data):
    """Splits TLS records: [(type, version, fragment)]; the rest."""
    out = []
    while len(data) >= 5:
        n = int.from_bytes(data[3:5], "big")
        if len(data) < 5 + n:
            break
        out.append((data[0], data[1:3], data[5:5 + n]))
        data = data[5 + n:]
    return out, data


def fragmented(port, ca, size):
    ctx = ssl.create_default_context(cafile=ca)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(10)
    first = True

    def send_pending():
        nonlocal first
        data = outgoing.read()
        if not data:
            return
        if first:
            # Re-cut the ClientHello's handshake bytes into tiny records.
            first = False
            recs, rest = records(data)
            handshake = b"".join(f for t, _, f in recs if t == 22)
            version = recs[0][1]
            out = b""
            for i in range(0, len(handshake), size):
                piece = handshake[i:i + size]
                out += bytes([22]) + version + len(piece).to_bytes(2, "big") + piece
            data = out + rest
        sock.sendall(data)

    while True:
        try:
            tls.do_handshake()
            send_pending()
            break
        except ssl.SSLWantReadError:
            send_pending()
            chunk = sock.recv(65536)
            if not chunk:
                print("closed during the handshake", flush=True)
                return
            incoming.write(chunk)
    tls.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    send_pending()
    got = b""
    while b"\r\n" not in got:
        try:
            got += tls.read(65536)
        except ssl.SSLWantReadError:
            chunk = sock.recv(65536)
            if not chunk:
                break
            incoming.write(chunk)
    print(got.split(b"\r\n")[0].decode(), flush=True)


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "raw":
        raw(port, sys.argv[3])
    elif mode == "fragmented":
        fragmented(port, sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
