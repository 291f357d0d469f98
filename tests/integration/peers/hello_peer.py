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
  big-hello PORT SIZE      a TLS 1.3 ClientHello of SIZE bytes (handshake
                           header included) in records of 2^14 bytes: shares
                           of groups no server knows, each as large as a
                           share may be, then a valid P-256 share (with
                           unknown cipher suites once the extensions are
                           full); print the first answer as raw does
  after-handshake PORT CA VER WHAT
                           complete a handshake (VER: 1.2 or 1.3) with
                           Python's ssl, take its keys (keylog), then send
                           one record built here: WHAT is "padding" (TLS 1.3,
                           plaintext all zeros: no content type),
                           "inner-type" (TLS 1.3, content type 99 inside),
                           "empty-key-update" (TLS 1.3 KeyUpdate with no
                           body), "renegotiate" (a ClientHello); then GET /
                           under the same keys. Print what the server sent
                           after the record: "alert warning|fatal N", the
                           response's status line, and how it ended ("eof",
                           or "open" when it kept the connection)
"""
import os
import socket
import ssl
import sys
import tempfile


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


def handshake(port, ctx):
    """A client of `ctx` on memory BIOs over a real socket, its handshake
    done: (tls, incoming, outgoing, socket, every byte the server sent so
    far); None when the server closed during the handshake."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(10)
    from_server = b""
    while True:
        try:
            tls.do_handshake()
            sock.sendall(outgoing.read())
            return tls, incoming, outgoing, sock, from_server
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            chunk = sock.recv(65536)
            if not chunk:
                return None
            from_server += chunk
            incoming.write(chunk)


def bad_record(port, ca, version, kind):
    ctx = ssl.create_default_context(cafile=ca)
    v = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = v
    done = handshake(port, ctx)
    if done is None:
        print("closed during the handshake", flush=True)
        return
    tls, incoming, outgoing, sock, _ = done
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


def big_hello(size):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    known = [(0x0017, point)]
    suites = b"\x13\x01\x13\x02\x13\x03"

    def hello(unknown, extra_suites):
        shares = unknown + known
        exts = b"".join([
            extension(0, vec(2, b"\x00" + vec(2, b"localhost"))),
            extension(43, vec(1, b"\x03\x04")),
            extension(10, vec(2, b"".join(g.to_bytes(2, "big") for g, _ in shares))),
            extension(13, vec(2, b"\x04\x03\x08\x04\x04\x01")),
            extension(51, vec(2, b"".join(g.to_bytes(2, "big") + vec(2, k) for g, k in shares))),
        ])
        body = (b"\x03\x03" + bytes(range(32)) + vec(1, bytes(32)) +
                vec(2, extra_suites + suites) + vec(1, b"\x00") + vec(2, exts))
        return b"\x01" + len(body).to_bytes(3, "big") + body

    # Grow the unknown shares (groups 0xfe00 and up, unassigned), then the
    # cipher suite list (0xe000-0xefff, unassigned), until the message is
    # SIZE bytes.
    unknown, extra = [], b""
    message = hello(unknown, extra)
    while len(message) < size:
        missing = size - len(message)
        room = 65535 - (len(message) - len(hello([], b"")) + 200)  # extensions' own bound
        if room > 8:
            n = min(missing, room, 60000) - 6  # its entry and its supported_groups code
            unknown.append((0xfe00 + len(unknown), os.urandom(max(n, 1))))
        else:
            n = min(missing, 65534 - len(suites) - len(extra)) // 2 * 2
            if n <= 0:
                break
            extra += b"".join((0xe000 + i % 4096).to_bytes(2, "big") for i in range(n // 2))
        message = hello(unknown, extra)
    records = b""
    for at in range(0, len(message), 16384):
        piece = message[at:at + 16384]
        records += b"\x16\x03\x01" + vec(2, piece)
    return len(message), records


def big_hello_send(port, size):
    length, records = big_hello(size)
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        sock.sendall(records)
    except (BrokenPipeError, ConnectionResetError):
        pass
    print(f"{length} bytes: {first_answer(sock)}", flush=True)


class RecordKeys:
    """One direction's record protection, TLS 1.3 or TLS 1.2 AEAD."""

    def __init__(self, version, aead, key, iv):
        self.version, self.aead, self.iv, self.seq = version, aead(key), iv, 0

    def _nonce(self):
        if self.version == "1.3":
            return bytes(a ^ b for a, b in zip(self.iv, self.seq.to_bytes(12, "big")))
        return self.iv + self.seq.to_bytes(8, "big")

    def seal(self, kind, data, inner=None):
        """A record of content type KIND; INNER replaces TLS 1.3's plaintext."""
        if self.version == "1.3":
            plain = inner if inner is not None else data + bytes([kind])
            aad = b"\x17\x03\x03" + (len(plain) + 16).to_bytes(2, "big")
            out = aad + self.aead.encrypt(self._nonce(), plain, aad)
        else:
            aad = self.seq.to_bytes(8, "big") + bytes([kind]) + b"\x03\x03" + \
                len(data).to_bytes(2, "big")
            sealed = self.seq.to_bytes(8, "big") + self.aead.encrypt(self._nonce(), data, aad)
            out = bytes([kind]) + b"\x03\x03" + vec(2, sealed)
        self.seq += 1
        return out

    def open(self, kind, payload):
        """(content type, plaintext), or None when it does not decrypt."""
        try:
            if self.version == "1.3":
                aad = bytes([kind]) + b"\x03\x03" + len(payload).to_bytes(2, "big")
                plain = self.aead.decrypt(self._nonce(), payload, aad).rstrip(b"\x00")
                kind, plain = plain[-1], plain[:-1]
            else:
                explicit, sealed = payload[:8], payload[8:]
                aad = self.seq.to_bytes(8, "big") + bytes([kind]) + b"\x03\x03" + \
                    (len(sealed) - 16).to_bytes(2, "big")
                plain = self.aead.decrypt(self.iv + explicit, sealed, aad)
        except Exception:
            return None
        self.seq += 1
        return kind, plain


def record_keys(version, cipher, keylog, server_random):
    """Both directions' application keys, from the keylog Python's ssl wrote."""
    import hashlib
    import hmac
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    secrets = {}
    for line in open(keylog):
        parts = line.split()
        if len(parts) == 3:
            secrets[parts[0]] = bytes.fromhex(parts[2])
    aead = ChaCha20Poly1305 if "CHACHA" in cipher else AESGCM
    digest = hashlib.sha384 if cipher.endswith("SHA384") else hashlib.sha256
    key_len = 16 if "AES_128" in cipher or "AES128" in cipher else 32
    if version == "1.3":
        def expand_label(secret, label, length):
            info = length.to_bytes(2, "big") + vec(1, b"tls13 " + label) + vec(1, b"")
            out, block, i = b"", b"", 1
            while len(out) < length:
                block = hmac.new(secret, block + info + bytes([i]), digest).digest()
                out, i = out + block, i + 1
            return out[:length]

        def keys(name):
            secret = secrets[name]
            return RecordKeys(version, aead, expand_label(secret, b"key", key_len),
                              expand_label(secret, b"iv", 12))
        return keys("CLIENT_TRAFFIC_SECRET_0"), keys("SERVER_TRAFFIC_SECRET_0")
    master = secrets["CLIENT_RANDOM"]
    client_random = bytes.fromhex(open(keylog).read().split("CLIENT_RANDOM ")[1].split()[0])
    seed = b"key expansion" + server_random + client_random
    block, a = b"", seed
    while len(block) < 2 * key_len + 8:
        a = hmac.new(master, a, digest).digest()
        block += hmac.new(master, a + seed, digest).digest()
    ck, sk = block[:key_len], block[key_len:2 * key_len]
    civ, siv = block[2 * key_len:2 * key_len + 4], block[2 * key_len + 4:2 * key_len + 8]
    return RecordKeys(version, aead, ck, civ), RecordKeys(version, aead, sk, siv)


def after_handshake(port, ca, version, what):
    ctx = ssl.create_default_context(cafile=ca)
    v = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = v
    ctx.set_ciphers("ECDHE+AESGCM")  # TLS 1.2; TLS 1.3 suites are all AEADs known here
    keylog = tempfile.NamedTemporaryFile(prefix="tlsterm-keylog-", delete=False).name
    ctx.keylog_filename = keylog
    done = handshake(port, ctx)
    if done is None:
        print("closed during the handshake", flush=True)
        return
    tls, _, _, sock, from_server = done
    sock.settimeout(0.5)  # TLS 1.3 tickets follow the handshake
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            from_server += chunk
    except (socket.timeout, TimeoutError):
        pass
    recs, _ = records(from_server)
    server_hello = recs[0][2]
    client_keys, server_keys = record_keys(version, tls.cipher()[0], keylog,
                                           server_hello[6:38])
    os.unlink(keylog)
    # The server's records so far under the application keys (TLS 1.3
    # tickets; TLS 1.2's Finished) advance its sequence number.
    after_ccs = False
    for kind, _, payload in recs:
        if kind == 20:
            after_ccs = True  # TLS 1.2: encrypted from here; TLS 1.3: compatibility
        elif kind == 23 or version == "1.2" and after_ccs:
            server_keys.open(kind, payload)  # TLS 1.3's handshake records do not open
    if version == "1.2":
        client_keys.seq = 1  # the client's Finished was 0
    if what == "padding":
        record = client_keys.seal(23, b"", inner=bytes(16))
    elif what == "inner-type":
        record = client_keys.seal(99, b"hello")
    elif what == "empty-key-update":
        record = client_keys.seal(22, b"\x18\x00\x00\x00")
    elif what == "renegotiate":
        # A ClientHello whose content is never read: the server refuses
        # renegotiation before it parses one.
        hello = key_share_hello(0x0017, bytes(65))[5:]
        record = client_keys.seal(22, hello)
    else:
        sys.exit("unknown record " + what)
    sock.sendall(record)
    events, answer, got = [], b"", b""
    sent_request, status_line = False, ""
    sock.settimeout(2)
    ending = "open"
    while True:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            if not sent_request and not events:
                ending = "silent"
            break
        except ConnectionResetError:
            ending = "reset"
            break
        if not chunk:
            ending = "eof"
            break
        answer += chunk
        recs, answer = records(answer)
        for kind, _, payload in recs:
            opened = server_keys.open(kind, payload)
            if opened is None:
                events.append(f"record {kind} that does not decrypt")
                continue
            kind, plain = opened
            if kind == 21:
                level = "warning" if plain[0] == 1 else "fatal"
                events.append(f"alert {level} {plain[1]}")
            elif kind == 23:
                got += plain
                if b"\r\n" in got and not status_line:
                    status_line = got.split(b"\r\n")[0].decode()
                    events.append(status_line)
            else:
                events.append(f"record {kind}")
        if not sent_request and events and events[-1].startswith("alert warning"):
            sent_request = True
            try:
                sock.sendall(client_keys.seal(
                    23, b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
            except (BrokenPipeError, ConnectionResetError):
                pass
    print(", ".join(events + [ending]), flush=True)


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
    elif mode == "big-hello":
        big_hello_send(port, int(sys.argv[3]))
    elif mode == "after-handshake":
        after_handshake(port, sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
