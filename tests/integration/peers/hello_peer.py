#!/usr/bin/env python3
"""Crafted first flights for tlsterm's conformance tests, on a real socket.

  raw PORT HEX             send the bytes HEX (after "x" repeats: HEXxN sends
                           HEX N times), then print what the server answered:
                           "alert N" (the first record is an alert with
                           description N), "record T" (another record type),
                           "closed" (nothing), or "silent" (no answer in 5 s)
  bad-record PORT CA VER [type0]
                           complete a handshake (VER: 1.2 or 1.3), then send
                           a record with one ciphertext byte flipped (or,
                           with type0, with content type 0); print
                           how the server ended ("alert NAME" with OpenSSL's
                           reason, "close_notify" or "eof") and how many
                           records it sent after the bad one
  key-share PORT GROUP HEX a TLS 1.3 ClientHello (built here) offering only
                           group GROUP (IANA id) with key_exchange HEX; print
                           the first answer as raw does ("record 22": a
                           ServerHello)
  flood PORT SOURCE N HOLD open N TCP connections from address SOURCE
                           (127.0.0.2, say), send nothing; after a second print
                           "closed K of N" (those the server closed at once),
                           then hold the rest HOLD seconds
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


def vec(n, data):
    return len(data).to_bytes(n, "big") + data


def extension(kind, body):
    return kind.to_bytes(2, "big") + vec(2, body)


def key_share_hello(group, key):
    exts = b"".join([
        extension(0, vec(2, b"\x00" + vec(2, b"localhost"))),            # server_name
        extension(43, vec(1, b"\x03\x04")),                               # supported_versions
        extension(10, vec(2, group.to_bytes(2, "big"))),                  # supported_groups
        extension(13, vec(2, b"\x04\x03\x08\x04\x04\x01")),               # signature_algorithms
        extension(51, vec(2, group.to_bytes(2, "big") + vec(2, key))),    # key_share
    ])
    body = (b"\x03\x03" + bytes(range(32)) + vec(1, bytes(32)) +
            vec(2, b"\x13\x01\x13\x02\x13\x03") + vec(1, b"\x00") + vec(2, exts))
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + vec(2, handshake)


def key_share(port, group, key_hex):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(key_share_hello(group, bytes.fromhex(key_hex)))
    print(first_answer(sock), flush=True)


def flood(port, source, n, hold):
    import time
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        socks.append(s)
    time.sleep(1)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed += 1
    print(f"closed {closed} of {n}", flush=True)
    time.sleep(hold)


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


def bad_record(port, ca, version, kind):
    ctx = ssl.create_default_context(cafile=ca)
    v = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = v
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(10)
    while True:
        try:
            tls.do_handshake()
            sock.sendall(outgoing.read())
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            incoming.write(sock.recv(65536))
    # TLS 1.3 session tickets follow the handshake: take them first, so
    # that what is counted below is only the answer to the bad record.
    sock.settimeout(0.5)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            incoming.write(chunk)
    except (socket.timeout, TimeoutError):
        pass
    sock.settimeout(10)
    try:
        tls.read(65536)
    except ssl.SSLWantReadError:
        pass
    tls.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
    record = bytearray(outgoing.read())
    if kind == "type0":
        record[0] = 0  # no such content type (RFC 8446 5: unexpected_message)
    else:
        record[-3] ^= 1  # inside the AEAD tag or ciphertext
    sock.sendall(bytes(record))
    # Everything the server sends until it closes: one fatal alert, and no
    # close_notify record after it.
    answer = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    except (socket.timeout, TimeoutError, ConnectionResetError):
        pass
    count = len(records(answer)[0])
    incoming.write(answer)
    incoming.write_eof()
    try:
        while tls.read(65536):
            pass
        ending = "close_notify"
    except ssl.SSLZeroReturnError:
        ending = "close_notify"
    except ssl.SSLEOFError:
        ending = "eof"
    except ssl.SSLError as e:
        ending = f"alert {e.reason}"
    print(f"{ending}, {count} record(s)", flush=True)


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "raw":
        raw(port, sys.argv[3])
    elif mode == "bad-record":
        bad_record(port, sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else "mac")
    elif mode == "key-share":
        key_share(port, int(sys.argv[3]), sys.argv[4])
    elif mode == "flood":
        flood(port, sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    elif mode == "fragmented":
        fragmented(port, sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
