"""docs/messages.md's examples run as written on a fresh `perdure dev`: the SDK example
(`cart.py`), the plain-HTTP decider (`decider.py`, whose printed output the page shows) and the
shell snippets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.cli.test_cli_dev import clean_environment, start  # noqa: F401 (fixture)
from tests.conftest import free_port
from tests.docs.test_readme import PRELUDE

PAGE = Path(__file__).resolve().parents[2] / "docs" / "messages.md"
PYTHON = re.compile(r"```python\n(.*?)```", re.S)
SHELL = re.compile(r"```sh\n(.*?)```", re.S)
PRINTED = re.compile(r"It prints:\n\n```\n(.*?)```", re.S)


def test_the_examples_of_the_messages_page_run_and_print_what_it_says(start, tmp_path):  # noqa: F811
    page = PAGE.read_text()
    cart, decider = PYTHON.findall(page)
    port = free_port()
    dev = start("dev", "--port", str(port), cwd=tmp_path, env=clean_environment())
    dev.wait_for_line("curl ")
    key = (tmp_path / ".perdure" / "dev-key").read_text().strip()
    outputs = []
    for name, code in (("cart.py", cart), ("decider.py", decider)):
        (tmp_path / name).write_text(code.replace("127.0.0.1:8233", f"127.0.0.1:{port}"))
        done = subprocess.run(
            [sys.executable, name],
            cwd=tmp_path,
            env=clean_environment(PERDURE_API_KEY=key),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stdout)
    script = PRELUDE + "\n".join(
        s.replace("127.0.0.1:8233", f"127.0.0.1:{port}") for s in SHELL.findall(page)
    )
    shell = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert outputs[0].strip() == "5 rejected 11"
    assert outputs[1] == PRINTED.search(page).group(1)
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert '"stage":"ADMITTED"' in shell.stdout
    assert shell.stdout.strip().endswith("400")
