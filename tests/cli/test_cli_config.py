"""Connection profiles (perdure.envconfig, Temporal's envconfig shape) and the `perdure` command's
connection, `config`, completion and entry point: the profile file `perdure config set` writes is
the one the SDK and the CLI read; flags beat the environment, which beats the profile."""

from __future__ import annotations

import importlib.util
import json
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from perdure.cli import SERVER_COMMANDS
from perdure.client import Client
from perdure.envconfig import (
    ClientConfig,
    ClientConfigProfile,
    ClientConfigTLS,
    ConfigError,
)

from app.cli import build_parser as server_parser
from tests.cli_helpers import PERDURE, Cli, run, user_environment

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path


def profile_file(home: Path) -> Path:
    return home / ".config" / "perdure" / "perdure.toml"


async def test_config_set_writes_the_profile_the_cli_and_the_sdk_connect_with(server, tenant, home):
    env = user_environment(home)  # no PERDURE_* at all: only the profile connects
    for prop, value in (
        ("address", server.base_url),
        ("api_key", tenant.admin_key),
        ("namespace", tenant.namespace),
    ):
        done = await run("config", "set", "--prop", prop, "--value", value, env=env)
        assert done.returncode == 0, done
        assert tenant.admin_key not in done.stdout

    path = profile_file(home)
    stored = tomllib.loads(path.read_text())
    listed = await run("workflow", "list", "-o", "json", env=env)
    connect = ClientConfig.load_client_connect_config(
        override_env_vars={"XDG_CONFIG_HOME": str(home / ".config")}
    )
    client = await Client.connect(**connect)
    try:
        count = await client.count_workflows()
    finally:
        await client.close()

    assert stored == {
        "profile": {
            "default": {
                "address": server.base_url,
                "api_key": tenant.admin_key,
                "namespace": tenant.namespace,
            }
        }
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert listed.returncode == 0 and isinstance(json.loads(listed.stdout), list)
    assert connect == {
        "target_host": server.base_url,
        "api_key": tenant.admin_key,
        "namespace": tenant.namespace,
    }
    assert count.count == 0


async def test_config_get_list_delete_never_print_the_key(home):
    env = user_environment(home)
    secret = "pdk_secret_never_shown"
    await run("config", "set", "-p", "api_key", "-v", secret, env=env)
    await run("config", "set", "-p", "address", "-v", "perdure.example:443", env=env)
    await run("config", "set", "-p", "tls", "-v", "true", env=env)
    await run("--profile", "staging", "config", "set", "-p", "namespace", "-v", "stg", env=env)

    text = await run("config", "get", env=env)
    as_json = await run("config", "get", "-o", "json", env=env)
    one = await run("config", "get", "--prop", "address", env=env)
    profiles = await run("config", "list", "-o", "json", env=env)
    await run("config", "delete", "--prop", "tls", env=env)
    removed = await run("--profile", "staging", "config", "delete-profile", env=env)
    after = tomllib.loads(profile_file(home).read_text())
    unknown = await run("config", "set", "-p", "colour", "-v", "red", env=env)
    elsewhere = home / "elsewhere.toml"
    await run(
        "--config-file", str(elsewhere), "config", "set", "-p", "namespace", "-v", "x", env=env
    )
    by_variable = await run(
        "config", "get", "-o", "json", env={**env, "PERDURE_CONFIG_FILE": str(elsewhere)}
    )

    assert secret not in text.stdout + as_json.stdout
    assert "<hidden>" in text.stdout and "tls.disabled" in text.stdout
    assert json.loads(as_json.stdout) == {
        "address": "perdure.example:443",
        "api_key": "<hidden>",
        "tls.disabled": False,
    }
    assert one.stdout.split() == ["address", "perdure.example:443"]
    assert json.loads(profiles.stdout) == [{"name": "default"}, {"name": "staging"}]
    assert removed.returncode == 0
    assert after == {"profile": {"default": {"address": "perdure.example:443", "api_key": secret}}}
    assert unknown.returncode == 2 and "unknown property 'colour'" in unknown.error_line()
    assert json.loads(by_variable.stdout) == {"namespace": "x"}


async def test_flags_beat_the_environment_which_beats_the_profile(server, tenant, home):
    env = user_environment(home)
    await run("config", "set", "-p", "address", "-v", "127.0.0.1:9", env=env)
    await run("config", "set", "-p", "api_key", "-v", "pdk_wrong", env=env)
    await run("config", "set", "-p", "namespace", "-v", "nowhere", env=env)
    host_port = server.base_url.removeprefix("http://")
    cli = Cli(server, tenant, home)

    profile_only = await run("workflow", "list", env=env)
    env_wins = await cli("workflow", "count", "-o", "json", PERDURE_ADDRESS=host_port)
    flag_wins = await cli("workflow", "count", "--namespace", "nowhere")
    no_env = await cli("workflow", "count", "--disable-config-env")
    chosen = await cli("workflow", "count", PERDURE_PROFILE="missing")

    assert profile_only.returncode == 1 and "cannot reach http://127.0.0.1:9" in profile_only.stderr
    assert env_wins.returncode == 0 and json.loads(env_wins.stdout)["count"] == 0
    assert flag_wins.returncode == 1 and "nowhere" in flag_wins.error_line()
    assert no_env.returncode == 1 and "127.0.0.1:9" in no_env.error_line()
    assert chosen.returncode == 2 and "profile 'missing'" in chosen.error_line()


def test_a_profile_reads_as_temporal_reads_it(tmp_path):
    path = tmp_path / "perdure.toml"
    path.write_text(
        "[profile.default]\n"
        'address = "127.0.0.1:8233"\n'
        "[profile.prod]\n"
        'address = "perdure.example.com:443"\n'
        'namespace = "payments"\n'
        'api_key = "pdk_prod"\n'
        "[profile.prod.tls]\n"
        "disabled = false\n"
        "[profile.prod.grpc_meta]\n"
        'x-team = "billing"\n'
    )
    env = {"PERDURE_CONFIG_FILE": str(path)}

    default = ClientConfig.load_client_connect_config(override_env_vars=env)
    prod = ClientConfig.load_client_connect_config("prod", override_env_vars=env)
    by_env = ClientConfig.load_client_connect_config(
        override_env_vars={**env, "PERDURE_PROFILE": "prod", "PERDURE_NAMESPACE": "other"}
    )
    plain = ClientConfig.load_client_connect_config(
        "prod", override_env_vars={**env, "PERDURE_TLS": "false"}
    )
    everything = ClientConfig.load(override_env_vars=env)

    assert default == {"target_host": "http://127.0.0.1:8233"}
    assert prod == {
        "target_host": "https://perdure.example.com:443",
        "namespace": "payments",
        "api_key": "pdk_prod",
        "rpc_metadata": {"x-team": "billing"},
    }
    assert by_env["namespace"] == "other" and by_env["api_key"] == "pdk_prod"
    assert plain["target_host"] == "http://perdure.example.com:443"
    assert sorted(everything.profiles) == ["default", "prod"]
    assert ClientConfig.load(config_source=everything.to_toml()).to_dict() == everything.to_dict()


def test_profile_errors_name_the_problem(tmp_path):
    path = tmp_path / "perdure.toml"
    path.write_text('[profile.default]\naddress = "x:1"\ncolour = "red"\n')
    env = {"PERDURE_CONFIG_FILE": str(path)}

    with pytest.raises(ConfigError, match=r"unknown key\(s\) profile.default.colour"):
        ClientConfigProfile.load(config_file_strict=True, override_env_vars=env)
    with pytest.raises(ConfigError, match="profile 'nope' is not in"):
        ClientConfigProfile.load("nope", override_env_vars=env)
    with pytest.raises(ConfigError, match="does not exist"):
        ClientConfigProfile.load(override_env_vars={"PERDURE_CONFIG_FILE": str(tmp_path / "x")})
    with pytest.raises(ConfigError, match="PERDURE_TLS must be true or false"):
        ClientConfigProfile.load(override_env_vars={**env, "PERDURE_TLS": "maybe"})
    with pytest.raises(ConfigError, match="TLS certificates"):
        ClientConfigProfile(
            address="x:1", tls=ClientConfigTLS(client_cert=Path("/c.pem"))
        ).to_client_connect_config()
    path.write_text("[profile.default\n")
    with pytest.raises(ConfigError, match="cannot read"):
        ClientConfigProfile.load(override_env_vars=env)


def test_values_with_quotes_and_unicode_survive_the_file(tmp_path):
    odd = 'say "hi"\\ \n\tünïcode 🚀'
    config = ClientConfig(profiles={"a b": ClientConfigProfile(namespace=odd, api_key="k")})
    config.save(tmp_path / "perdure.toml")

    loaded = ClientConfig.load(config_source=tmp_path / "perdure.toml")

    assert loaded.profiles["a b"].namespace == odd


async def test_bash_completion_completes_commands_and_flags(home):
    env = user_environment(home)
    script = (await run("completion", "bash", env=env)).stdout
    zsh = await run("completion", "zsh", env=env)

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        probe = (
            f"{script}\nCOMP_WORDS=(perdure {line}); COMP_CWORD={len(words)}; _perdure; "
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert sorted(complete("work")) == ["worker", "workflow"]
    assert complete("workflow", "sh") == ["show"]
    assert complete("workflow", "st") == ["start", "start-update-with-start"]
    assert "--workflow-id" in complete("workflow", "signal", "--")
    assert complete("operator", "search-attribute", "") == ["--help", "create", "list", "remove"]
    assert zsh.returncode == 0 and zsh.stdout.startswith("#compdef perdure")
    assert "'perdure workflow' " in zsh.stdout


def test_the_perdure_command_hands_server_commands_to_the_server():
    server_commands = set(server_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]

    help_text = subprocess.run(
        [PERDURE, "migrate", "--help"], capture_output=True, text=True, timeout=60
    )
    after_flags = subprocess.run(
        [PERDURE, "-o", "json", "--disable-config-env", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    server_only = subprocess.run(
        [str(Path(sys.executable).with_name("perdure-server")), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert set(SERVER_COMMANDS) == server_commands
    assert help_text.returncode == 0 and "PERDURE_DATABASE_URL" in help_text.stdout
    assert after_flags.returncode == 0 and "PERDURE_WORKERS" in after_flags.stdout
    assert server_only.returncode == 0 and server_only.stdout.startswith("perdure ")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "./clients/python" in dockerfile  # the image's `perdure` is the SDK's


def test_without_the_server_its_commands_say_how_to_install_it(tmp_path):
    # The SDK alone: its package and its dependencies on the path of a Python that has no
    # perdure-server beside it or on PATH.
    alone = tmp_path / "site"
    alone.mkdir()
    for name in ("httpx", "httpcore", "h11", "sniffio", "anyio", "idna", "certifi"):
        origin = Path(importlib.util.find_spec(name).origin)  # type: ignore[union-attr,arg-type]
        (alone / name).symlink_to(origin.parent)
    python = Path(sys.base_prefix) / "bin" / "python3"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'clients' / 'python'}:{alone}"}

    done = subprocess.run(
        [str(python), "-S", "-m", "perdure.cli", "dev"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )

    assert not (python.parent / "perdure-server").exists()
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("perdure: 'dev' runs the Perdure server, which is not installed")
    assert "pip install perdure-server" in done.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
async def test_zsh_completion_offers_the_words_after_the_command_path(home):
    script = home / "perdure.zsh"
    script.write_text((await run("completion", "zsh", env=user_environment(home))).stdout)

    def complete(*words: str) -> list[str]:
        # zsh's compadd exists only inside its completion system: here it prints its words.
        probe = (
            f'source {script}; compadd() {{ print -l -- "$@" }}; '
            f"words=(perdure {' '.join(words)} ''); CURRENT={len(words) + 2}; _perdure"
        )
        done = subprocess.run(
            ["zsh", "-f", "-c", probe], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return [w for w in done.stdout.split() if w != "--"]

    assert complete("-o", "json", "operator", "search-attribute") == ["--help", "create", "list"]
    assert "--schedule-id" in complete("schedule", "toggle")


def test_a_tls_table_turns_https_on_unless_it_disables_it(tmp_path):
    path = tmp_path / "perdure.toml"
    path.write_text(
        '[profile.named]\naddress = "p.example:443"\n[profile.named.tls]\nserver_name = "p"\n'
        '[profile.off]\naddress = "p.example:80"\n[profile.off.tls]\ndisabled = true\n'
    )
    env = {"PERDURE_CONFIG_FILE": str(path)}

    named = ClientConfig.load_client_connect_config("named", override_env_vars=env)
    off = ClientConfig.load_client_connect_config("off", override_env_vars=env)

    assert named["target_host"] == "https://p.example:443"
    assert off["target_host"] == "http://p.example:80"
