"""docs/cli.md works as written: its shell snippets, pasted in order into one shell on a fresh
`perdure dev`, all succeed, and its Python snippet connects with the profile they wrote."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port
from tests.test_cli_dev import clean_environment, start  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "cli.md"
SHELL = re.compile(r"```sh\n(.*?)```", re.S)
PYTHON = re.compile(r"```python\n(.*?)```", re.S)


def test_every_cli_guide_snippet_runs_in_order_on_a_fresh_dev_server(start, tmp_path):  # noqa: F811
    port = free_port()
    guide = GUIDE.read_text()
    env = clean_environment(
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / ".config"),
        PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
    )
    dev = start("dev", "--port", str(port), cwd=tmp_path, env=env)
    dev.wait_for_line("curl ")

    script = "set -euo pipefail\n"
    for number, snippet in enumerate(SHELL.findall(guide), 1):
        body = snippet.replace("127.0.0.1:8233", f"127.0.0.1:{port}")
        script += f"\necho '>>> snippet {number}'\n{body}\n"
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    (python,) = PYTHON.findall(guide)
    connected = subprocess.run(
        [sys.executable, "-c", python + "\nimport asyncio\nasyncio.run(main())\nprint('ok')"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    out = done.stdout
    assert done.returncode == 0, f"{out[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
    assert f">>> snippet {len(SHELL.findall(guide))}" in out
    assert "\nada\n" in out  # the stored definition's result through jq
    assert "exit status 1" in out and "\n404\n" in out
    assert (tmp_path / ".perdure" / "dev-key").read_text().strip() not in out + done.stderr
    assert connected.returncode == 0 and connected.stdout.strip() == "ok", connected.stderr
