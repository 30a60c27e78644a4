"""Ordinary mistakes with the `perdure` command get one clear line that says what is wrong
and what to do, and a non-zero exit: never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app import __version__
from tests.cli.test_cli_dev import clean_environment, run
from tests.conftest import free_port, migrated_sqlite_file


def one_line_error(done) -> str:  # type: ignore[no-untyped-def]
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    # Progress lines ("Migrating ...") may come first; the error is one line, the last.
    errors = [line for line in output.splitlines() if line.startswith("perdure: ")]
    assert len(errors) == 1 and output.splitlines()[-1] == errors[0], output
    return errors[0]


def sqlite_env(tmp_path: Path, **more: str) -> dict[str, str]:
    return clean_environment(
        PERDURE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/perdure.db", **more
    )


def test_version_is_printed(tmp_path):
    done = run("--version", cwd=tmp_path, env=clean_environment())

    assert done.returncode == 0
    assert done.stdout.strip() == f"perdure {__version__}"


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_help_lists_the_settings_a_command_reads(tmp_path, command):
    done = run(command, "--help", cwd=tmp_path, env=clean_environment())

    assert done.returncode == 0
    assert "PERDURE_DATABASE_URL" in done.stdout
    if command == "serve":
        for setting in ("PERDURE_PORT", "PERDURE_WORKERS", "PERDURE_RUN_BACKGROUND_LOOPS"):
            assert setting in done.stdout


def test_creating_a_tenant_that_exists_says_so(tmp_path):
    env = sqlite_env(tmp_path)
    migrated_sqlite_file(tmp_path / "perdure.db")  # as `perdure migrate` leaves it
    assert run("tenant", "create", "acme", cwd=tmp_path, env=env).returncode == 0

    line = one_line_error(run("tenant", "create", "acme", cwd=tmp_path, env=env))

    assert "already exists" in line


def test_an_invalid_tenant_name_is_refused_with_the_rule(tmp_path):
    env = sqlite_env(tmp_path)
    migrated_sqlite_file(tmp_path / "perdure.db")  # as `perdure migrate` leaves it

    line = one_line_error(run("tenant", "create", "no spaces!", cwd=tmp_path, env=env))

    assert "name" in line


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_a_postgres_url_without_the_psycopg_driver_names_the_right_form(tmp_path, scheme):
    env = clean_environment(PERDURE_DATABASE_URL=f"{scheme}://perdure@db.example:5432/perdure")

    line = one_line_error(run("migrate", cwd=tmp_path, env=env))

    assert "postgresql+psycopg://perdure@db.example:5432/perdure" in line


def test_a_database_role_that_does_not_exist_is_one_line(tmp_path):
    env = clean_environment(
        PERDURE_DATABASE_URL="postgresql+psycopg://no_such_role_perdure@127.0.0.1:5432/test"
    )

    line = one_line_error(run("migrate", cwd=tmp_path, env=env))

    assert "cannot use the database" in line and "no_such_role_perdure" in line


def test_a_port_in_use_is_named(tmp_path):
    port = free_port()
    env = sqlite_env(tmp_path, PERDURE_PORT=str(port))
    migrated_sqlite_file(tmp_path / "perdure.db")  # as `perdure migrate` leaves it
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()

        line = one_line_error(run("serve", cwd=tmp_path, env=env))

    assert f"port {port}" in line and "in use" in line


def test_serve_on_a_missing_sqlite_file_leaves_no_file_behind(tmp_path):
    env = sqlite_env(tmp_path)

    line = one_line_error(run("serve", cwd=tmp_path, env=env))

    assert "perdure migrate" in line
    assert not (tmp_path / "perdure.db").exists()


def test_several_workers_on_sqlite_are_refused_with_the_reason(tmp_path):
    env = sqlite_env(tmp_path, PERDURE_WORKERS="2")
    migrated_sqlite_file(tmp_path / "perdure.db")  # as `perdure migrate` leaves it

    line = one_line_error(run("serve", cwd=tmp_path, env=env))

    assert "PostgreSQL" in line and "PERDURE_WORKERS=2" in line


def test_an_invalid_setting_names_the_variable(tmp_path):
    env = sqlite_env(tmp_path, PERDURE_PORT="eighty")

    line = one_line_error(run("migrate", cwd=tmp_path, env=env))

    assert "PERDURE_PORT" in line
