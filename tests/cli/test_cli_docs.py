"""docs/cli.md's Python snippet connects with the profile `perdure config set` writes (its
shell snippets run with every page's in tests/docs/test_readme.py)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from tests.cli_helpers import run, user_environment

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
PYTHON = re.compile(r"```python\n(.*?)```", re.S)


async def test_the_guide_python_snippet_connects_with_the_written_profile(server, tenant, tmp_path):
    env = user_environment(tmp_path)
    for prop, value in (
        ("address", server.base_url),
        ("api_key", tenant.admin_key),
        ("namespace", tenant.namespace),
    ):
        assert (await run("config", "set", "-p", prop, "-v", value, env=env)).returncode == 0
    (python,) = PYTHON.findall(GUIDE.read_text())
    check = (
        "\nimport asyncio\n"
        "from perdure.envconfig import ClientConfig\n"
        "asyncio.run(main())\n"
        "print(ClientConfig.load_client_connect_config()['namespace'])\n"
    )

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", python + check, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == tenant.namespace
