"""The Temporal migration guide's examples run as written against the suite's server (a new
tenant's namespace, reached through the environment variables the guide names)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import new_tenant

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "temporal-python.md"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


async def test_the_saga_example_compensates_a_failure_and_a_cancel(
    server: Any, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        tenant = await new_tenant(http)
        await tenant.client.aclose()
    (saga,) = PYTHON_BLOCK.findall(GUIDE.read_text())
    (tmp_path / "saga.py").write_text(saga)
    # The suite's server runs on this test's event loop: the example runs beside it.
    done = await asyncio.create_subprocess_exec(
        sys.executable,
        "saga.py",
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "PERDURE_ADDRESS": server.base_url,
            "PERDURE_API_KEY": tenant.admin_key,
            "PERDURE_NAMESPACE": tenant.namespace,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(done.communicate(), timeout=120)
    assert done.returncode == 0, err.decode()[-3000:]
    lines = out.decode().strip().splitlines()
    assert lines[0] == "trip 1 failed: no seat left"
    assert lines[1] == "trip 2: CancelledError"
    assert lines[2] == str(
        [
            "booked hotel",
            "booked car",
            "cancelled flight-full",
            "cancelled car",
            "cancelled hotel",
            "booked hotel",
            "booked car",
            "cancelled slow-flight",
            "cancelled car",
            "cancelled hotel",
        ]
    )
