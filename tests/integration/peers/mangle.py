"""Random damage to protocol bytes, shared by the peers that send mangled
requests (tls_client.py garbage) and responses (raw_upstream.py garbage)."""


def mangle(rnd, data, noise, edits):
    """`data` with `edits` random edits: a `noise` piece inserted, a byte
    overwritten, or up to 8 bytes cut."""
    data = bytearray(data)
    for _ in range(edits):
        at = rnd.randint(0, len(data))
        op = rnd.random()
        if op < 0.4:
            data[at:at] = rnd.choice(noise)
        elif op < 0.7 and at < len(data):
            data[at] = rnd.randrange(256)
        else:
            del data[at:at + rnd.randint(1, 8)]
    return bytes(data)
