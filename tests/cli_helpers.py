"""The `perdure` command as a user runs it: a real process of the venv's script against the
suite's server, with a clean environment (no PERDURE_* of the suite, its own config folder)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import RunningServer, Tenant

PERDURE = str(Path(sys.executable).with_name("perdure"))
RUN_TIMEOUT = 60.0


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.returncode == 0, self
        return json.loads(self.stdout)

    def error_line(self) -> str:
        """The one line a failure prints on stderr."""
        assert self.returncode != 0, self
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        return lines[0]


def user_environment(home: Path, **variables: str) -> dict[str, str]:
    """The caller's environment without PERDURE_* variables, with a HOME and config folder of
    its own (so no real profile file is read or written), plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERDURE_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    env.update(variables)
    return env


async def run(
    *args: str, env: dict[str, str], stdin: str | None = None, cwd: Path | None = None
) -> Done:
    process = await asyncio.create_subprocess_exec(
        PERDURE,
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate((stdin or "").encode()), RUN_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Done(process.returncode, out.decode(), err.decode())


class Cli:
    """`perdure …` connected to a tenant's namespace through the environment variables."""

    def __init__(self, server: RunningServer, tenant: Tenant, home: Path) -> None:
        self.server = server
        self.tenant = tenant
        self.home = home
        self.env = user_environment(
            home,
            PERDURE_ADDRESS=server.base_url,
            PERDURE_API_KEY=tenant.admin_key,
            PERDURE_NAMESPACE=tenant.namespace,
        )

    async def __call__(
        self, *args: str, stdin: str | None = None, cwd: Path | None = None, **env: str
    ) -> Done:
        return await run(*args, env={**self.env, **env}, stdin=stdin, cwd=cwd)

    async def json(self, *args: str) -> Any:
        return (await self(*args, "-o", "json")).json()
