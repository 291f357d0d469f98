"""Process and measurement helpers shared by the tools/bench-* scripts that
run terminators side by side (bench-proxy, bench-mtls)."""
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

TICK = os.sysconf("SC_CLK_TCK")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def port_free(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return False
    except OSError:
        return True


def tree_pids(pid):
    """pid and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            todo.extend(int(c) for c in
                        pathlib.Path(f"/proc/{p}/task/{p}/children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def tree_cpu_split(pid):
    """(utime, stime) of pid and its descendants, in ticks."""
    user = system = 0
    for p in tree_pids(pid):
        try:
            stat = pathlib.Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            user += int(fields[11])
            system += int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return user, system


def tree_cpu_ticks(pid):
    """utime + stime of pid and its descendants."""
    return sum(tree_cpu_split(pid))


def tree_rss_mib(pid):
    """Resident memory of pid and its descendants, MiB."""
    kib = 0
    for p in tree_pids(pid):
        try:
            for line in pathlib.Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kib += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return kib / 1024


def s_time(port, path, seconds, extra=(), reuse=False):
    """openssl s_time: full handshakes (-new), or with `reuse` connections
    that resume the first one's session (-reuse); one request each,
    sequential."""
    out = run(["taskset", "-c", "0", "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
               "-reuse" if reuse else "-new", "-www", path, "-time", str(seconds), *extra],
              timeout=seconds + 60).stdout
    m = re.search(r"(\d+) connections in [\d.]+s", out)
    if m is None:
        raise RuntimeError(f"unexpected s_time output:\n{out}")
    return int(m.group(1)), ""


def wrk(port, path, extra, connections, seconds):
    """wrk on CPU 0, one thread: (requests completed, socket error summary)."""
    out = run(["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
               *extra, f"https://127.0.0.1:{port}{path}"], timeout=seconds + 60).stdout
    m = re.search(r"(\d+) requests in", out)
    if re.search(r"Non-2xx or 3xx responses", out):
        raise RuntimeError(f"error responses from port {port}{path}:\n{out}")
    errors = re.search(r"Socket errors: (.*)", out)
    return int(m.group(1)), (errors.group(0) if errors else "")


def start(cmd, cpu, log):
    return subprocess.Popen(["taskset", "-c", str(cpu), *cmd], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
