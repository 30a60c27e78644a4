"""How long a YAML alias bomb (issue #12) takes to be refused, and how long a /healthz sent at
the same moment waits: the refusal must come before any expansion and the loop must stay free.

    .venv/bin/python bench/yaml_bomb.py --spawn sqlite [--levels 8 9 10] [--rounds 5]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import bench_arguments, spawn  # noqa: E402


def alias_bomb(levels: int) -> str:
    """A Pass state's Result built from `levels` levels of ten aliases each: 10**levels
    strings once expanded, from about 60 bytes a level."""
    lines = ['      a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        lines.append(
            f"      l{i}: &l{i} [" + ",".join([f"*{'a' if i == 1 else f'l{i - 1}'}"] * 10) + "]"
        )
    return "StartAt: P\nStates:\n  P:\n    Type: Pass\n    End: true\n    Result:\n" + (
        "\n".join(lines) + "\n"
    )


async def timed(coro) -> tuple[float, httpx.Response]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = await coro
    return time.perf_counter() - started, response


async def round_trip(url: str, key: str, namespace: str, levels: int) -> tuple[float, float, int]:
    document = alias_bomb(levels).encode()
    async with (
        httpx.AsyncClient(base_url=url, timeout=60) as a,
        httpx.AsyncClient(base_url=url, timeout=60) as b,
    ):
        await b.get("/healthz")  # both connections open before the clock starts
        await a.get("/healthz")
        (bomb_s, bomb), (health_s, _) = await asyncio.gather(
            timed(
                a.put(
                    f"/api/v1/namespaces/{namespace}/definitions/bomb",
                    content=document,
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/yaml"},
                )
            ),
            timed(b.get("/healthz")),
        )
    return bomb_s, health_s, bomb.status_code


def main() -> None:
    parser = bench_arguments(__doc__ or "", unit="rounds", default_n=5)
    parser.add_argument("--levels", type=int, nargs="+", default=[8, 9, 10])
    args = parser.parse_args()

    def run(url: str, key: str, namespace: str) -> None:
        for levels in args.levels:
            rounds = [asyncio.run(round_trip(url, key, namespace, levels)) for _ in range(args.n)]
            size = len(alias_bomb(levels))
            print(
                f"{levels} levels ({size} bytes, 10^{levels} strings expanded): "
                f"answer {sorted({r[2] for r in rounds})}, "
                f"bomb p50 {statistics.median(r[0] for r in rounds) * 1000:.1f} ms, "
                f"concurrent /healthz p50 {statistics.median(r[1] for r in rounds) * 1000:.1f} ms "
                f"max {max(r[1] for r in rounds) * 1000:.1f} ms"
            )

    if args.spawn:
        print(f"Starting a throw-away server on {args.spawn} ...", flush=True)
        with spawn(args.spawn, args.postgres_url) as server:
            run(server.url, server.key, server.namespace)
    else:
        run(args.url, args.key or Path(".perdure/dev-key").read_text().strip(), args.namespace)


if __name__ == "__main__":
    main()
