#!/usr/bin/env python3
"""Raw TCP upstreams for tlsterm's integration tests.

modes:
  echo-then-bye  echo every byte; at EOF from tlsterm send "BYE\\n" and close
                 (shows a client's half-close reaching the upstream as FIN, and
                 the upstream's close reaching the client as close_notify)
  reset          read a little, then close with RST
  greet-and-hold send "HELLO\\n" and keep the connection open
Prints "listening on 127.0.0.1:PORT" once ready.
"""
import socket
import struct
import sys
import threading


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
