#!/bin/sh
# Runs in the kTLS VM (tools/ktls-vm): tlsterm (/vm/tcp.toml) between
# openssl s_client and a busybox nc origin, on a listener with userspace
# records and on two whose records go to the kernel, one splicing the bytes
# to the origin, one copying them. For every suite the
# kernel can take, on TLS 1.3 and 1.2: BYTES (default 1 MiB) from the origin
# to the client and from the client to the origin, each sha256-checked, each
# stream's end (close_notify one way, FIN the other) passed on. Then, on
# kernel records: curl through an HTTP listener to busybox httpd, a client's
# TLS 1.3 KeyUpdate (a clean close, counted as ktls_key_update), and the
# counters: tlsterm's and the kernel's own (/proc/net/tls_stat) say the
# kernel carried each connection; pooled TLS upstream connections (to a
# second tlsterm, /vm/origin.toml) moving their records to the kernel after
# their first exchange, downloads and an upload through them; records cut across the switch, stalled
# and forged (tests/vm/edge_check.cc). Last, tlsterm run by an
# unprivileged user past fs.pipe-user-pages-soft: no pipe to be had, its
# spliced listener copies, counted. One line per check; exits non-zero
# when any fails.
#   sh /vm/through_tlsterm.sh [BYTES]
set -u
head -c "${1:-1048576}" /dev/urandom >/tmp/data
want=$(sha256sum </tmp/data | cut -d' ' -f1)
printf '#!/bin/sh\ncat /tmp/data\n' >/tmp/send && chmod +x /tmp/send
printf '#!/bin/sh\ncat >/tmp/up\n' >/tmp/recv && chmod +x /tmp/recv
mkdir -p /www/v12 /www/cgi-bin && cp /tmp/data /www/data && cp /tmp/data /www/v12/data
# A CGI that answers with the sha256 of the request body.
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\nhead -c "$CONTENT_LENGTH" | sha256sum | cut -d" " -f1\n' >/www/cgi-bin/sum
chmod +x /www/cgi-bin/sum

tlsterm /vm/tcp.toml >/tmp/tlsterm.log 2>&1 &
tlsterm_pid=$!
tlsterm /vm/origin.toml >/tmp/origin.log 2>&1 &
origin_pid=$!
ready=0
for i in $(seq 1 100); do
  if grep -q "listener http-pooled-kernel listening" /tmp/tlsterm.log 2>/dev/null &&
     grep -q "listener origin-tls12 listening" /tmp/origin.log 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
if [ $ready -ne 1 ]; then echo "FAILED: tlsterm did not start"; cat /tmp/tlsterm.log /tmp/origin.log; exit 1; fi
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }
grep "listening" /tmp/tlsterm.log | sed 's/^.*listener /start log: listener /'
grep "pooled TLS connections" /tmp/tlsterm.log | sed 's/^.*upstream /start log: upstream /'

# The origin listens: busybox nc -l on port 9000 (0x2328), an IPv6 socket
# that takes IPv4 too, so it shows in tcp6.
wait_origin() {
  for i in $(seq 1 200); do
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':2328 [0-9A-F:]* 0A ' && return 0
    sleep 0.05
  done
  fail "the origin did not listen"
}

# The kernel's own count of sockets whose records it made or read.
tls_stat() { awk -v k="$1" '$1 == k { print $2 }' /proc/net/tls_stat; }
tx_before=$(tls_stat TlsTxSw); rx_before=$(tls_stat TlsRxSw)

uptime_s() { cut -d' ' -f1 /proc/uptime; }
check() {  # what, got-file, the client's exit status, start time
  got=$(sha256sum <"$2" | cut -d' ' -f1)
  took="$(awk -v a="$4" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s"
  if [ "$3" -eq 124 ]; then
    fail "$1: the stream never ended (client timed out; $(wc -c <"$2") bytes)"
  elif [ "$got" = "$want" ]; then echo "ok: $1 ($took)"; else
    fail "$1 ($(wc -c <"$2") bytes, sha256 $got, client status $3)"
  fi
}
# The origin sends 1 MiB and closes; the client reads until tlsterm ends
# the stream (close_notify).   download PORT LABEL S_CLIENT-OPTIONS...
download() {
  port=$1 label=$2
  shift 2
  nc -l -p 9000 -e /tmp/send &
  origin=$!
  wait_origin
  start=$(uptime_s)
  status=0
  timeout 60 openssl s_client -connect 127.0.0.1:$port -quiet -nocommands "$@" </dev/null >/tmp/down 2>>/tmp/client.err || status=$?
  wait $origin
  check "$label: download $*" /tmp/down $status $start
}
# The client sends 1 MiB and ends with close_notify; tlsterm passes the end
# on as a FIN, which ends the origin's cat.   upload PORT LABEL OPTIONS...
upload() {
  port=$1 label=$2
  shift 2
  rm -f /tmp/up
  nc -l -p 9000 -e /tmp/recv &
  origin=$!
  wait_origin
  start=$(uptime_s)
  status=0
  timeout 60 openssl s_client -connect 127.0.0.1:$port -quiet -nocommands -no_ign_eof "$@" </tmp/data >/dev/null 2>>/tmp/client.err || status=$?
  wait $origin
  check "$label: upload $*" /tmp/up $status $start
}
for port in 8443 8444 8446; do
  case $port in
    8443) records="userspace records" ;;
    8444) records="kernel records, spliced" ;;
    8446) records="kernel records, copied" ;;
  esac
  for suite in "-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256" \
               "-tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384" \
               "-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256" \
               "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256" \
               "-tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384" \
               "-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305"; do
    # shellcheck disable=SC2086 # the suite is several options
    download $port "$records" $suite
    # shellcheck disable=SC2086
    upload $port "$records" $suite
  done
done
kernel_connections=24
spliced=12

# HTTP mode on kernel records: curl fetches the file from busybox httpd,
# twice on one connection, on each version.
httpd -p 127.0.0.1:9001 -h /www
for version in "--tlsv1.3" "--tlsv1.2 --tls-max 1.2"; do
  start=$(uptime_s)
  status=0
  timeout 60 curl -sS --cacert /pki/root-ca.pem $version -o /tmp/web1 -o /tmp/web2 \
    https://127.0.0.1:8445/data https://127.0.0.1:8445/data 2>>/tmp/client.err || status=$?
  check "kernel records: curl $version, first response" /tmp/web1 $status $start
  check "kernel records: curl $version, second response on the same connection" /tmp/web2 $status $start
  kernel_connections=$((kernel_connections + 1))
done

# Pooled TLS upstreams on kernel records: the HTTP listener on 8448 (its
# client side in userspace) routes to a second tlsterm (the origin, its
# records made by wolfSSL, keeping connections alive in front of httpd).
# Each pooled connection's first exchange runs on wolfSSL, the rest on the
# kernel's records: three responses on one connection per version (TLS
# 1.3 AES-GCM, TLS 1.2 ChaCha20-Poly1305), an upload through one; then the
# origin ends the idle connections (close_notify after its 6 s idle
# timeout), and the next requests take new ones that move too.
pooled() {  # label path
  start=$(uptime_s)
  status=0
  timeout 90 curl -sS --cacert /pki/root-ca.pem -o /tmp/pool1 -o /tmp/pool2 -o /tmp/pool3 \
    https://127.0.0.1:8448$2 https://127.0.0.1:8448$2 https://127.0.0.1:8448$2 \
    2>>/tmp/client.err || status=$?
  for n in 1 2 3; do
    check "pooled TLS upstream, $1: response $n" /tmp/pool$n $status $start
  done
}
pooled_upload() {  # label path
  status=0
  got=$(timeout 90 curl -sS --cacert /pki/root-ca.pem -H "Expect:" --data-binary @/tmp/data \
    https://127.0.0.1:8448$2 2>>/tmp/client.err) || status=$?
  if [ "$got" = "$want" ]; then echo "ok: pooled TLS upstream, $1: upload"; else
    fail "pooled TLS upstream, $1: upload (the origin's sha256 '$got', client status $status)"
  fi
}
# The upload right after the downloads on its connection: an upload is not
# retried when the origin's idle close crosses it (HTTP's keep-alive race).
pooled "TLS 1.3" /data
pooled_upload "TLS 1.3" /cgi-bin/sum
pooled "TLS 1.2 ChaCha20-Poly1305" /v12/data
sleep 8  # the origin's idle timeout (6 s) ends every pooled connection
pooled "TLS 1.3, after the origin closed the idle connection" /data
pooled "TLS 1.2, after the origin closed the idle connection" /v12/data
kill -USR1 $tlsterm_pid
sleep 1
line=$(grep "kernel TLS upstream:" /tmp/tlsterm.log | tail -1)
echo "tlsterm: ${line#*kernel TLS upstream: }"
pooled_kernel=$(echo "$line" | sed -n "s/.*kernel TLS upstream: \([0-9]*\) pooled connections' records in the kernel, 0 kept in userspace, 0 closed.*/\1/p")
if [ -n "$pooled_kernel" ] && [ "$pooled_kernel" -ge 4 ]; then
  echo "ok: tlsterm counted $pooled_kernel pooled connections on kernel records (at least 4), none kept in userspace"
else
  fail "tlsterm's pooled kTLS counters (expected at least 4 in the kernel, 0 kept)"
  pooled_kernel=0
fi
kill $origin_pid

# A TLS 1.3 KeyUpdate from the client: the kernel cannot follow it, so
# tlsterm closes cleanly (close_notify) and counts it. The bytes before it
# reach the origin.
rm -f /tmp/up
nc -l -p 9000 -e /tmp/recv &
origin=$!
wait_origin
status=0
(printf 'before the update\n'; sleep 1; printf 'k\n'; sleep 3) |
  timeout 30 openssl s_client -connect 127.0.0.1:8444 -tls1_3 -quiet -no_ign_eof >/dev/null 2>/tmp/keyupdate.err || status=$?
wait $origin
kernel_connections=$((kernel_connections + 1))
spliced=$((spliced + 1))
if [ "$(cat /tmp/up 2>/dev/null)" = "before the update" ]; then
  echo "ok: KeyUpdate: the bytes before it reached the origin"
else
  fail "KeyUpdate: the origin got '$(cat /tmp/up 2>/dev/null)' (client status $status)"
  cat /tmp/keyupdate.err
fi

# Records cut across the switch, stalled half sent (no CPU while they
# wait), forged (the connection ends): tests/vm/edge_check.cc, its own echo
# origin on port 9000, 5 connections per version, on the spliced listener
# and on the copying one.
for port in 8444 8446; do
  label=spliced; [ $port = 8446 ] && label=copied
  if edge_check $tlsterm_pid $port 9000 >/tmp/edge.out 2>&1; then :; else
    failures=$((failures + 1))
  fi
  sed "s/^\([a-zA-Z]*: \)/\1$label, /" /tmp/edge.out
  kernel_connections=$((kernel_connections + 10))
done

kill -USR1 $tlsterm_pid
sleep 1
line=$(grep "kernel TLS:" /tmp/tlsterm.log | tail -1)
echo "tlsterm: ${line#*kernel TLS: }"
case "$line" in
  *"kernel TLS: $kernel_connections connections' records in the kernel, 0 kept"*)
    echo "ok: tlsterm counted $kernel_connections connections on kernel records, none kept in userspace" ;;
  *) fail "tlsterm's kTLS counters (expected $kernel_connections in the kernel)" ;;
esac
# The transfers and the KeyUpdate on 8444 spliced; edge_check's may too
# (some end before their upstream is connected).
line=$(grep "splice:" /tmp/tlsterm.log | tail -1)
echo "tlsterm: ${line#*splice: }"
n=$(echo "$line" | sed -n 's/.*splice: \([0-9]*\) tcp connections spliced, \([0-9]*\) copied.*/\1 \2/p')
if [ -n "$n" ] && [ "${n% *}" -ge $spliced ] && [ "${n#* }" -eq 0 ]; then
  echo "ok: tlsterm counted at least $spliced spliced connections, none copied for want of a pipe"
else
  fail "tlsterm's splice counters (expected at least $spliced spliced, 0 copied)"
fi
tx=$(( $(tls_stat TlsTxSw) - tx_before )); rx=$(( $(tls_stat TlsRxSw) - rx_before ))
echo "kernel: /proc/net/tls_stat TlsTxSw +$tx, TlsRxSw +$rx"
sockets=$((kernel_connections + pooled_kernel))
if [ $tx -eq $sockets ] && [ $rx -eq $sockets ]; then
  echo "ok: the kernel made and read the records of exactly those connections ($kernel_connections client, $pooled_kernel pooled)"
else
  fail "the kernel's counts (expected +$sockets each way: $kernel_connections client, $pooled_kernel pooled)"
fi
kill $tlsterm_pid
for i in $(seq 1 50); do kill -0 $tlsterm_pid 2>/dev/null || break; sleep 0.1; done
closed=$(grep "stopped:" /tmp/tlsterm.log | tail -1)
echo "tlsterm: ${closed#*stopped: }"
case "$closed" in
  *ktls_key_update=1*) echo "ok: the KeyUpdate closed one connection as ktls_key_update" ;;
  *) fail "no connection closed as ktls_key_update" ;;
esac
case "$closed" in
  *tls_error=4*) echo "ok: the forged records closed four connections as tls_error" ;;
  *) fail "the forged records' connections were not closed as tls_error" ;;
esac

# No pipe to be had: tlsterm as an unprivileged user past
# fs.pipe-user-pages-soft gets reduced pipes (2 pages), too small to
# splice through; its connections copy, counted, and nothing is lost.
echo 'tlsterm:x:1000:1000::/tmp:/bin/sh' >>/etc/passwd
echo 'tlsterm:x:1000:' >>/etc/group
cp -r /pki /tmp/pki-user && chown -R 1000:1000 /tmp/pki-user
soft=$(sysctl -n fs.pipe-user-pages-soft)
sysctl -w fs.pipe-user-pages-soft=1 >/dev/null
su -s /bin/sh tlsterm -c "tlsterm /vm/no_pipes.toml >/tmp/no_pipes.log 2>&1 & echo \$! >/tmp/no_pipes.pid"
for i in $(seq 1 100); do
  grep -q "listener no-pipes listening" /tmp/no_pipes.log 2>/dev/null && break
  sleep 0.1
done
download 8447 "kernel records, no pipe to be had" -tls1_3
upload 8447 "kernel records, no pipe to be had" -tls1_3
no_pipes_pid=$(cat /tmp/no_pipes.pid)
kill -USR1 "$no_pipes_pid"
sleep 1
line=$(grep "splice:" /tmp/no_pipes.log | tail -1)
echo "tlsterm (unprivileged): ${line#*splice: }"
case "$line" in
  *"splice: 0 tcp connections spliced, 2 copied for want of a pipe"*)
    echo "ok: both connections copied for want of a pipe, counted" ;;
  *) fail "the unprivileged tlsterm's splice counters (expected 0 spliced, 2 copied)"
     tail -20 /tmp/no_pipes.log ;;
esac
kill "$no_pipes_pid"
sysctl -w fs.pipe-user-pages-soft="$soft" >/dev/null
if [ $failures -ne 0 ]; then
  echo "--- tlsterm log"; tail -40 /tmp/tlsterm.log
  echo "--- origin log"; tail -20 /tmp/origin.log
  echo "--- client errors"; tail -20 /tmp/client.err
fi
echo "$failures failed"
exit $failures
