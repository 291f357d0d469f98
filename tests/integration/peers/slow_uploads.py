#!/usr/bin/env python3
"""Slow uploads beside normal requests, against tlsterm's HTTP listener.

  slow_uploads.py PORT CA SLOW BODY SECONDS

SLOW clients each open a TLS connection and POST a BODY-byte body (with a
Content-Length) at one byte a second; once their heads are out, a normal
GET goes every second for SECONDS, each on a new connection. Every load is
bounded: the slow clients stop at their answer or SECONDS + 40 s, a normal
request after 10 s. Prints two lines:

  slow: N answered 408, M otherwise (STATUS xK ...)
  normal: K of T answered 200 (others: ...), p50 X ms, p99 Y ms, max Z ms
"""
import asyncio
import ssl
import sys
import time


async def status_of(reader):
    line = await reader.readline()
    parts = line.split()
    return parts[1].decode() if len(parts) >= 2 else "closed"


async def slow_upload(i, port, ctx, body, heads_out, deadline):
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost"), 30)
    except (OSError, asyncio.TimeoutError) as e:
        heads_out.release()
        return f"connect failed ({type(e).__name__})"
    writer.write(f"POST /upload/slow-{i}.bin HTTP/1.1\r\nHost: localhost\r\n"
                 f"Content-Length: {body}\r\n\r\n".encode())
    heads_out.release()
    answer = asyncio.ensure_future(status_of(reader))
    sent = 0
    try:
        while sent < body and time.monotonic() < deadline:
            done, _ = await asyncio.wait({answer}, timeout=1.0)
            if done:
                break
            writer.write(b"x")
            sent += 1
            await writer.drain()
        remaining = max(1.0, deadline - time.monotonic())
        return await asyncio.wait_for(answer, remaining)
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
        if answer.done() and not answer.exception():
            return answer.result()
        return f"broken ({type(e).__name__})"
    finally:
        answer.cancel()
        writer.close()


async def normal_request(port, ctx):
    start = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost"), 10)
        writer.write(b"GET /headers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        status = await asyncio.wait_for(status_of(reader), 10)
        writer.close()
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
        status = f"failed ({type(e).__name__})"
    return status, (time.monotonic() - start) * 1000.0


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


async def main(port, ca, slow, body, seconds):
    ctx = ssl.create_default_context(cafile=ca)
    deadline = time.monotonic() + seconds + 40
    heads_out = asyncio.Semaphore(0)
    opening = asyncio.Semaphore(64)  # handshakes at once

    async def one(i):
        async with opening:
            pass
        return await slow_upload(i, port, ctx, body, heads_out, deadline)

    uploads = [asyncio.ensure_future(one(i)) for i in range(slow)]
    for _ in range(slow):
        await asyncio.wait_for(heads_out.acquire(), 60)
    normals = []
    start = time.monotonic()
    for k in range(seconds):
        normals.append(asyncio.ensure_future(normal_request(port, ctx)))
        await asyncio.sleep(max(0.0, start + k + 1 - time.monotonic()))
    normal_results = await asyncio.gather(*normals)
    slow_results = await asyncio.gather(*uploads)

    others = {}
    for r in slow_results:
        if r != "408":
            others[r] = others.get(r, 0) + 1
    detail = " ".join(f"{k} x{v}" for k, v in sorted(others.items()))
    print(f"slow: {slow_results.count('408')} answered 408, {sum(others.values())} otherwise"
          + (f" ({detail})" if detail else ""), flush=True)
    ok = [ms for status, ms in normal_results if status == "200"]
    bad = [status for status, _ in normal_results if status != "200"]
    times = [ms for _, ms in normal_results]
    print(f"normal: {len(ok)} of {len(normal_results)} answered 200"
          + (f" (others: {' '.join(bad)})" if bad else "")
          + f", p50 {percentile(times, 50):.1f} ms, p99 {percentile(times, 99):.1f} ms,"
          f" max {max(times):.1f} ms", flush=True)


if __name__ == "__main__":
    port, ca = int(sys.argv[1]), sys.argv[2]
    slow, body, seconds = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    asyncio.run(main(port, ca, slow, body, seconds))
