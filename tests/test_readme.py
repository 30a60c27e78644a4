"""The README's shell snippets work as written: pasted in order into one shell on a fresh
`perdure dev`, every one succeeds. A snippet preceded by `<!-- readme-test: skip (why) -->`
(set-up, the suite itself, benchmarks) is not run.

Every `curl` fails its snippet on an HTTP error answer, unless the snippet prints the status
itself (`-w`), which the README does where it shows an error on purpose."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import free_port
from tests.test_cli_dev import clean_environment, start  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- readme-test: skip[^>]*-->\s*\n)?```sh\n(.*?)```", re.S)
PRELUDE = r"""
set -euo pipefail
curl() {
  case " $* " in
    *" -w "*|*" --write-out "*) command curl "$@" ;;
    *) command curl --fail-with-body "$@" ;;
  esac
}
"""


def runnable_snippets(markdown: str) -> list[str]:
    return [body for skip, body in BLOCK.findall(markdown) if not skip]


def test_every_readme_snippet_runs_in_order_on_a_fresh_dev_server(start, tmp_path):  # noqa: F811
    port = free_port()
    snippets = runnable_snippets((ROOT / "README.md").read_text())
    assert len(snippets) >= 4
    dev = start("dev", "--port", str(port), cwd=tmp_path, env=clean_environment())
    dev.wait_for_line("curl ")

    script = PRELUDE
    for number, snippet in enumerate(snippets, 1):
        body = snippet.replace("127.0.0.1:8233", f"127.0.0.1:{port}")
        script += f"\necho '>>> snippet {number}'\n{body}\n"
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, f"{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
    assert f">>> snippet {len(snippets)}" in done.stdout
    assert '"status":"COMPLETED","result":{"refunded":42}' in done.stdout.replace(" ", "")
