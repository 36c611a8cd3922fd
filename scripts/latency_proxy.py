#!/usr/bin/env python3
"""Loopback HTTP proxy for benchmarks: adds a fixed delay to each direction of every connection
(as a far-away AWS endpoint would) and counts the requests that pass, by service and operation.

usage: latency_proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS
Prints "ready" once listening. Control (answered by the proxy itself, never forwarded):
  GET /__proxy/counts        -> {"service": {"operation": n, ...}, ...} since the last reset
  GET /__proxy/reset         -> counts back to zero
  GET /__proxy/delay?ms=N    -> per-direction delay now N ms

The delay is a pipeline, not a throttle: bytes read at t are written at t + delay, in order, and
reading goes on meanwhile, so many requests in flight each see one delay per direction (20 ms per
round trip at 10 ms), as against a real region. Requests are parsed only far enough to count them
(request line, headers, Content-Length or chunked body); responses are relayed as bytes.
"""
import asyncio, json, socket, sys, time, urllib.parse
from collections import defaultdict

listen_port, upstream_port, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000.0
counts = defaultdict(lambda: defaultdict(int))


def classify(method, target, headers, body):
    auth = headers.get("authorization", "")
    service = "unknown"
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            service = scope[3]
    path, _, query = target.partition("?")
    if path.startswith("/v20180820/"):
        return "s3", "control:" + path.split("/")[2] if len(path.split("/")) > 2 else "control"
    amz_target = headers.get("x-amz-target")
    if amz_target:
        op = amz_target.rsplit(".", 1)[-1]
        if service == "unknown":
            service = "dynamodb" if amz_target.startswith("DynamoDB") else "kinesis"
        return service, op
    if service in ("sns", "sts") or headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        return service, form.get("Action", ["?"])[0]
    # S3 REST: method, bucket or object, and the sub-resource that names the operation.
    parts = [p for p in path.split("/") if p]
    what = "object" if len(parts) > 1 else "bucket"
    sub = query.split("&", 1)[0].split("=", 1)[0] if query else ""
    return "s3", f"{method} {what} {sub}".strip()


async def read_request(reader):
    """One request's raw bytes and (method, target, headers, body), or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target = lines[0].split(" ")[:2]
    headers = {}
    for l in lines[1:]:
        if ":" in l:
            k, v = l.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    raw, body = [head], b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            raw.append(size_line)
            size = int(size_line.split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            raw.append(chunk)
            body += chunk[:-2]
            if size == 0:
                # trailers until an empty line
                while chunk != b"\r\n":
                    chunk = await reader.readuntil(b"\r\n")
                    raw.append(chunk)
                break
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
        raw.append(body)
    return b"".join(raw), (method, target, headers, body)


async def delayed_writer(queue, writer):
    """Writes each queued chunk at its due time, in order."""
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def control(target, writer):
    global delay
    path, _, query = target.partition("?")
    if path == "/__proxy/reset":
        counts.clear()
        body = b"{}"
    elif path == "/__proxy/delay":
        delay = float(urllib.parse.parse_qs(query)["ms"][0]) / 1000.0
        body = b"{}"
    else:
        body = json.dumps(counts).encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    writer.close()


def no_delay(writer):
    # Without this, Nagle's algorithm holds a response's second segment for the peer's delayed
    # ACK (40 ms), which would swamp the delay being simulated.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def handle(client_reader, client_writer):
    no_delay(client_writer)
    upstream = None
    up_queue, down_queue = asyncio.Queue(), asyncio.Queue()
    tasks = []

    async def pump_down(up_reader):
        try:
            while True:
                data = await up_reader.read(65536)
                if not data:
                    break
                down_queue.put_nowait((time.monotonic() + delay, data))
        except (ConnectionError, OSError):
            pass
        down_queue.put_nowait(None)

    try:
        while True:
            got = await read_request(client_reader)
            if got is None:
                break
            raw, (method, target, headers, body) = got
            if target.startswith("/__proxy/"):
                await control(target, client_writer)
                return
            service, op = classify(method, target, headers, body)
            counts[service][op] += 1
            if upstream is None:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
                upstream = up_writer
                no_delay(up_writer)
                tasks = [asyncio.ensure_future(delayed_writer(up_queue, up_writer)),
                         asyncio.ensure_future(pump_down(up_reader)),
                         asyncio.ensure_future(delayed_writer(down_queue, client_writer))]
            up_queue.put_nowait((time.monotonic() + delay, raw))
    except (ConnectionError, OSError, ValueError, asyncio.IncompleteReadError):
        pass
    finally:
        up_queue.put_nowait(None)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        else:
            client_writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, limit=1 << 22)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
