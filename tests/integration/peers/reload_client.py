#!/usr/bin/env python3
"""HTTPS clients for the reload tests, on Python's ssl module (OpenSSL).

  load PORT CA SECONDS CONNS STOPFILE
        CONNS threads send keep-alive GET requests through tlsterm's HTTP mode
        until STOPFILE exists (or SECONDS pass); a connection is reopened only
        after a response that said Connection: close. Any error (refused,
        reset, no or bad response) counts as failed. Prints
        "K ok, F failed, C connections" and the first errors.
  hold PORT CA MARKER
        one connection: a GET, print "first STATUS serial=S", wait for MARKER
        to exist (30 s at most), a second GET on the same connection, print
        "second STATUS serial=S" (S: the server certificate's serial), and
        " (then closed)" when that response said Connection: close
  serial PORT CA
        a new connection: a GET, print "STATUS serial=S"
"""
import http.client
import os
import ssl
import sys
import threading
import time


def context(ca):
    return ssl.create_default_context(cafile=ca)


def connect(port, ca):
    c = http.client.HTTPSConnection("localhost", port, context=context(ca), timeout=10)
    c.connect()
    return c


def serial_of(c):
    return c.sock.getpeercert()["serialNumber"]


def get(c, path):
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    return r.status, r.will_close, body


def load(port, ca, seconds, conns, stopfile):
    lock = threading.Lock()
    totals = {"ok": 0, "failed": 0, "connections": 0}
    errors = []
    deadline = time.monotonic() + seconds

    def worker(n):
        c = None
        i = 0
        while time.monotonic() < deadline and not os.path.exists(stopfile):
            i += 1
            try:
                if c is None:
                    c = connect(port, ca)
                    with lock:
                        totals["connections"] += 1
                status, close, body = get(c, "/w%d/%d" % (n, i))
                ok = status == 200 and body.startswith(b"hello from the demo upstream")
                with lock:
                    totals["ok" if ok else "failed"] += 1
                    if not ok and len(errors) < 5:
                        errors.append("status %d: %r" % (status, body[:80]))
                if close:
                    c.close()
                    c = None
            except Exception as e:  # noqa: BLE001 - every failure counts
                with lock:
                    totals["failed"] += 1
                    if len(errors) < 5:
                        errors.append("%s: %s" % (type(e).__name__, e))
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("%d ok, %d failed, %d connections" % (totals["ok"], totals["failed"],
                                                  totals["connections"]))
    for e in errors:
        print(e)


def hold(port, ca, marker):
    c = connect(port, ca)
    status, _, _ = get(c, "/first")
    print("first %d serial=%s" % (status, serial_of(c)), flush=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    if c.sock is None:
        sys.exit("the connection was closed before the second request")
    s = serial_of(c)  # the same connection: http.client reopens only a closed one
    status, close, _ = get(c, "/second")
    print("second %d serial=%s%s" % (status, s, " (then closed)" if close else ""), flush=True)


def serial(port, ca):
    c = connect(port, ca)
    status, _, _ = get(c, "/")
    print("%d serial=%s" % (status, serial_of(c)))


def main():
    mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "load":
        load(port, ca, float(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    elif mode == "hold":
        hold(port, ca, sys.argv[4])
    elif mode == "serial":
        serial(port, ca)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
