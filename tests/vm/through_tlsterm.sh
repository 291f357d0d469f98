#!/bin/sh
# Runs in the kTLS VM (tools/ktls-vm): tlsterm (tcp mode, /vm/tcp.toml)
# between openssl s_client and a busybox nc origin. For every suite the
# kernel can take, on TLS 1.3 and 1.2: BYTES (default 1 MiB) from the
# origin to the client and from the client to the origin, each
# sha256-checked. Prints one line per transfer; exits non-zero when any
# fails.
#   sh /vm/through_tlsterm.sh [BYTES]
set -u
head -c "${1:-1048576}" /dev/urandom >/tmp/data
want=$(sha256sum </tmp/data | cut -d' ' -f1)
printf '#!/bin/sh\ncat /tmp/data\n' >/tmp/send && chmod +x /tmp/send
printf '#!/bin/sh\ncat >/tmp/up\n' >/tmp/recv && chmod +x /tmp/recv

tlsterm /vm/tcp.toml >/tmp/tlsterm.log 2>&1 &
tlsterm_pid=$!
ready=0
for i in $(seq 1 100); do
  if grep -q "listening" /tmp/tlsterm.log 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
if [ $ready -ne 1 ]; then echo "FAILED: tlsterm did not start"; cat /tmp/tlsterm.log; exit 1; fi

# The origin listens: busybox nc -l on port 9000 (0x2328), an IPv6 socket
# that takes IPv4 too, so it shows in tcp6.
wait_origin() {
  for i in $(seq 1 200); do
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':2328 [0-9A-F:]* 0A ' && return 0
    sleep 0.05
  done
  echo "FAILED: the origin did not listen"
  failures=$((failures + 1))
}

failures=0
uptime_s() { cut -d' ' -f1 /proc/uptime; }
check() {  # what, got-file, the client's exit status, start time
  got=$(sha256sum <"$2" | cut -d' ' -f1)
  took="$(awk -v a="$4" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s"
  if [ "$3" -eq 124 ]; then
    echo "FAILED: $1: the stream never ended (client timed out; $(wc -c <"$2") bytes)"
    failures=$((failures + 1))
  elif [ "$got" = "$want" ]; then echo "ok: $1 ($took)"; else
    echo "FAILED: $1 ($(wc -c <"$2") bytes, sha256 $got, client status $3)"
    failures=$((failures + 1))
  fi
}
for suite in "-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256" \
             "-tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384" \
             "-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256" \
             "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256" \
             "-tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384" \
             "-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305"; do
  # The origin sends 1 MiB and closes; the client reads until tlsterm ends
  # the stream.
  nc -l -p 9000 -e /tmp/send &
  origin=$!
  wait_origin
  start=$(uptime_s)
  status=0
  timeout 60 openssl s_client -connect 127.0.0.1:8443 -quiet -nocommands $suite </dev/null >/tmp/down 2>/tmp/client.err || status=$?
  wait $origin
  check "download $suite" /tmp/down $status $start
  # The client sends 1 MiB and ends with close_notify; tlsterm passes the
  # end on as a FIN, which ends the origin's cat.
  rm -f /tmp/up
  nc -l -p 9000 -e /tmp/recv &
  origin=$!
  wait_origin
  start=$(uptime_s)
  status=0
  timeout 60 openssl s_client -connect 127.0.0.1:8443 -quiet -nocommands -no_ign_eof $suite </tmp/data >/dev/null 2>>/tmp/client.err || status=$?
  wait $origin
  check "upload $suite" /tmp/up $status $start
done
kill $tlsterm_pid
if [ $failures -ne 0 ]; then
  echo "--- tlsterm log"; tail -30 /tmp/tlsterm.log
  echo "--- client errors"; tail -20 /tmp/client.err
fi
echo "$failures failed"
exit $failures
