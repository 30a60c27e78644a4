"""The shell snippets of the README and of every page in docs/ work as written: pasted in order
(the README, then the pages of `DOC_PAGES`) into one shell on a fresh `perdure dev`, every one
succeeds. A snippet preceded by `<!-- readme-test: skip (why) -->` (set-up, the suite itself,
benchmarks) is not run. Every page of docs/ must be in `DOC_PAGES`, so none is left untested.

Every `curl` fails its snippet on an HTTP error answer, unless the snippet prints the status
itself (`-w`), which the README does where it shows an error on purpose."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.cli.test_cli_dev import clean_environment, start  # noqa: F401 (fixture)
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SDK_README = ROOT / "clients" / "python" / "README.md"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
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


# The order the snippets run in: a later page may use what an earlier one made.
DOC_PAGES = [
    "README.md",
    "docs/http-api.md",
    "docs/visibility.md",
    "docs/security.md",
    "docs/webhooks.md",
    "docs/definitions.md",
    "docs/schedules.md",
    "docs/console.md",
    "docs/performance.md",
    "docs/operating.md",
    "docs/messages.md",
    "docs/operations.md",
    "docs/cli.md",
    "docs/bounded-connections.md",
    "docs/deploying.md",
    # Its programs are JavaScript: clients/typescript/test/docs.test.mjs runs them (make test-ts).
    "docs/typescript.md",
    # Its Python example runs in tests/docs/test_docs_temporal_python.py (no shell snippets).
    "docs/temporal-python.md",
    "docs/flow-control.md",
]


def runnable_snippets(markdown: str) -> list[str]:
    return [body for skip, body in BLOCK.findall(markdown) if not skip]


def test_every_doc_page_is_in_the_snippet_run():
    pages = {str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")}
    pages -= {p for p in pages if p.startswith("docs/adr/")}  # records: prose, no snippets
    assert pages <= set(DOC_PAGES), f"add to DOC_PAGES: {sorted(pages - set(DOC_PAGES))}"


def test_the_readme_python_example_is_the_tested_sdk_example():
    readme = PYTHON_BLOCK.findall((ROOT / "README.md").read_text())
    assert readme and readme[0] == PYTHON_BLOCK.findall(SDK_README.read_text())[0]


def test_every_doc_snippet_runs_in_order_on_a_fresh_dev_server(start, tmp_path):  # noqa: F811
    port = free_port()
    snippets = [
        snippet for page in DOC_PAGES for snippet in runnable_snippets((ROOT / page).read_text())
    ]
    assert len(snippets) >= 8
    dev = start("dev", "--port", str(port), cwd=tmp_path, env=clean_environment())
    dev.wait_for_line("curl ")

    script = PRELUDE
    for number, snippet in enumerate(snippets, 1):
        body = snippet.replace("127.0.0.1:8233", f"127.0.0.1:{port}")
        script += f"\necho '>>> snippet {number}'\n{body}\n"
    # The `perdure` command from this environment; its profile file in the test's own folder.
    env = clean_environment(
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / ".config"),
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )

    assert done.returncode == 0, f"{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
    assert f">>> snippet {len(snippets)}" in done.stdout
    assert '"status":"COMPLETED","result":{"refunded":42}' in done.stdout.replace(" ", "")


def test_the_sdk_readme_examples_run_against_a_fresh_dev_server(start, tmp_path):  # noqa: F811
    first, environment = PYTHON_BLOCK.findall(SDK_README.read_text())[:2]
    port = free_port()
    (tmp_path / "reminders.py").write_text(first.replace("127.0.0.1:8233", f"127.0.0.1:{port}"))
    (tmp_path / "year.py").write_text(environment)
    # The time-skipping example starts a server of its own: it runs while the dev server
    # starts and the first example runs (two processes starting at once, not one after the other).
    year = subprocess.Popen(
        [sys.executable, "year.py"],
        cwd=tmp_path,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        dev = start("dev", "--port", str(port), cwd=tmp_path, env=clean_environment())
        dev.wait_for_line("curl ")
        key = (tmp_path / ".perdure" / "dev-key").read_text().strip()
        example = subprocess.run(
            [sys.executable, "reminders.py"],
            cwd=tmp_path,
            env=clean_environment(PERDURE_API_KEY=key),
            capture_output=True,
            text=True,
            timeout=120,
        )
        year_out, year_err = year.communicate(timeout=120)
    finally:
        if year.poll() is None:
            year.kill()
            year.wait()

    assert example.returncode == 0, example.stderr[-3000:]
    assert example.stdout.strip() == "True 1"
    assert year.returncode == 0, year_err[-3000:]
    assert year_out.strip() == "sent 12"
