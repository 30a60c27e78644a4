"""What a non-reading event stream costs the server: RSS against the number of open streams.

Builds one run whose history is about --history-mib MiB (signals of equal size), then opens
streams on it that send their request and never read (a 4 KiB receive buffer), and prints the
server's resident memory at each count. Two identical rounds: the second, after the first's
streams closed, shows whether memory was given back (issue 28: the peak may rise < 10 %).
Goal: at most 256 KiB per stream plus the largest single event. Bounded: --streams at most,
each round a few seconds.

    python bench/sse_memory.py --spawn sqlite --history-mib 4 40 --streams 50 100 200
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import rss_mib, spawn  # noqa: E402

EVENTS = 400  # signals in the history; each is one event of history_bytes / EVENTS


async def silent_stream(host: str, port: int, key: str, path: str) -> socket.socket:
    """An event stream asked for over a socket that is then never read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, port))
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n\r\n"
    await loop.sock_sendall(sock, request.encode())
    return sock


def build_history(url: str, key: str, history_bytes: int) -> str:
    """A running workflow with EVENTS signals of equal size: its id."""
    workflow_id = f"sse-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        r = client.post(
            f"/api/v1/namespaces/bench/workflows/{workflow_id}",
            json={"workflow_type": "Quiet", "task_queue": "nobody"},
        )
        r.raise_for_status()
        payload = "x" * (history_bytes // EVENTS)
        for i in range(EVENTS):
            client.post(
                f"/api/v1/namespaces/bench/workflows/{workflow_id}/signal/s",
                json={"input": payload, "request_id": f"{workflow_id}-{i}"},
            ).raise_for_status()
    return workflow_id


async def a_round(
    url: str, key: str, pid: int, workflow_id: str, counts: list[int], settle: float
) -> float:
    """Open streams up to each count; print RSS at each; close them all. Answers the peak."""
    host, port = url.removeprefix("http://").split(":")
    path = f"/api/v1/namespaces/bench/workflows/{workflow_id}/events/stream"
    base = rss_mib(pid)
    print(f"    0 streams: {base:7.1f} MiB", flush=True)
    held: list[socket.socket] = []
    peak = base
    for count in counts:
        while len(held) < count:
            held.append(await silent_stream(host, int(port), key, path))
        await asyncio.sleep(settle)  # the server writes until each socket's buffers are full
        now = rss_mib(pid)
        peak = max(peak, now)
        per_stream = (now - base) * 1024 / count
        print(
            f"  {count:>4} streams: {now:7.1f} MiB  (+{per_stream:6.1f} KiB a stream)",
            flush=True,
        )
    for sock in held:
        sock.close()
    await asyncio.sleep(settle)
    print(f"    closed:    {rss_mib(pid):7.1f} MiB", flush=True)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spawn", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--history-mib", type=float, nargs="+", default=[4, 40])
    parser.add_argument("--streams", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before each reading")
    args = parser.parse_args()
    if max(args.streams) > 1000:
        parser.error("--streams: at most 1,000 (this bench stays bounded)")

    print(f"Starting a throw-away server on {args.spawn} ...", flush=True)
    with spawn(args.spawn, args.postgres_url) as server:
        for mib in args.history_mib:
            started = time.monotonic()
            workflow_id = build_history(server.url, server.key, int(mib * 1024 * 1024))
            event_kib = mib * 1024 / EVENTS
            print(
                f"  history of {mib:g} MiB ({EVENTS} events of {event_kib:.0f} KiB) built in "
                f"{time.monotonic() - started:.1f} s",
                flush=True,
            )
            peaks = []
            for round_number in (1, 2):
                print(f"  round {round_number}:", flush=True)
                peaks.append(
                    asyncio.run(
                        a_round(
                            server.url,
                            server.key,
                            server.pid,
                            workflow_id,
                            args.streams,
                            args.settle,
                        )
                    )
                )
            print(
                f"  {mib:g} MiB history: peak {peaks[0]:.1f} then {peaks[1]:.1f} MiB "
                f"({(peaks[1] - peaks[0]) / peaks[0] * 100:+.1f} %)",
                flush=True,
            )


if __name__ == "__main__":
    main()
