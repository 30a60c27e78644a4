"""`perdure config get|set|list|delete|delete-profile`: the connection profile file
(perdure.envconfig's TOML), as Temporal's `temporal config` edits `temporal.toml`. The API key
is written but never printed back."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from perdure import envconfig
from perdure.cli._api import CommandFailed, Session, UsageError

HIDDEN = "<hidden>"
PROPERTIES = ("address", "namespace", "api_key", "tls", "tls.disabled", "tls.server_name")


def _file(s: Session) -> Path:
    explicit = getattr(s.args, "config_file", None)
    return Path(explicit).expanduser() if explicit else envconfig.default_config_file()


def _profile_name(s: Session) -> str:
    return (
        getattr(s.args, "profile", None)
        or os.environ.get(envconfig.ENV_PROFILE)
        or envconfig.DEFAULT_PROFILE
    )


def _load(path: Path) -> envconfig.ClientConfig:
    if not path.exists():
        return envconfig.ClientConfig(profiles={})
    try:
        return envconfig.ClientConfig.load(config_source=path)
    except envconfig.ConfigError as exc:
        raise CommandFailed(str(exc)) from None


def _shown(table: dict[str, Any]) -> dict[str, Any]:
    """A profile's table as printed: the API key hidden."""
    return {k: (HIDDEN if k == "api_key" else v) for k, v in table.items()}


def _flat(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def get(s: Session) -> int:
    name = _profile_name(s)
    profiles = _load(_file(s)).profiles
    if name not in profiles:
        raise CommandFailed(f"profile {name!r} is not in {_file(s)}")
    values = _flat(_shown(dict(profiles[name].to_dict())))
    prop = s.args.prop
    if prop is not None:
        if prop not in values:
            raise CommandFailed(f"property {prop!r} is not set in profile {name!r}")
        values = {prop: values[prop]}

    def text(v: dict[str, Any]) -> None:
        width = max((len(k) for k in v), default=0)
        for key, value in v.items():
            shown = str(value).lower() if isinstance(value, bool) else value
            print(f"  {key.ljust(width)}  {shown}")

    s.out.document(values, text)
    return 0


def _bool(text: str, prop: str) -> bool:
    word = text.strip().lower()
    if word in ("true", "1", "yes", "on"):
        return True
    if word in ("false", "0", "no", "off"):
        return False
    raise UsageError(f"{prop} takes true or false, not {text!r}")


def _with(
    profile: envconfig.ClientConfigProfile, prop: str, value: str | None
) -> envconfig.ClientConfigProfile:
    """The profile with `prop` set to `value` (None: removed)."""
    tls = profile.tls or envconfig.ClientConfigTLS()
    if prop == "address":
        return replace(profile, address=value)
    if prop == "namespace":
        return replace(profile, namespace=value)
    if prop == "api_key":
        return replace(profile, api_key=value)
    if prop == "tls":  # Temporal's `tls = true|false` shorthand
        if value is None:
            return replace(profile, tls=None)
        return replace(profile, tls=replace(tls, disabled=not _bool(value, prop)))
    if prop == "tls.disabled":
        disabled = None if value is None else _bool(value, prop)
        return replace(profile, tls=replace(tls, disabled=disabled))
    if prop == "tls.server_name":
        return replace(profile, tls=replace(tls, server_name=value))
    if prop.startswith("grpc_meta.") and len(prop) > len("grpc_meta."):
        headers = dict(profile.grpc_meta)
        header = prop.removeprefix("grpc_meta.")
        if value is None:
            headers.pop(header, None)
        else:
            headers[header] = value
        return replace(profile, grpc_meta=headers)
    raise UsageError(
        f"unknown property {prop!r}; known: {', '.join(PROPERTIES)}, grpc_meta.<header>"
    )


def _save(s: Session, config: envconfig.ClientConfig) -> None:
    try:
        config.save(_file(s))
    except OSError as exc:
        raise CommandFailed(f"cannot write {_file(s)}: {exc.strerror}") from None


def set_(s: Session) -> int:
    path, name = _file(s), _profile_name(s)
    config = _load(path)
    profiles = dict(config.profiles)
    profiles[name] = _with(
        profiles.get(name, envconfig.ClientConfigProfile()), s.args.prop, s.args.value
    )
    _save(s, envconfig.ClientConfig(profiles=profiles))
    shown = HIDDEN if s.args.prop == "api_key" else s.args.value
    s.out.say(f"Set {s.args.prop} = {shown} in profile {name!r} of {path}")
    return 0


def delete(s: Session) -> int:
    path, name = _file(s), _profile_name(s)
    profiles = dict(_load(path).profiles)
    if name not in profiles:
        raise CommandFailed(f"profile {name!r} is not in {path}")
    profiles[name] = _with(profiles[name], s.args.prop, None)
    _save(s, envconfig.ClientConfig(profiles=profiles))
    s.out.say(f"Deleted {s.args.prop} from profile {name!r}")
    return 0


def delete_profile(s: Session) -> int:
    name = getattr(s.args, "profile", None)
    if not name:
        raise UsageError("name the profile to delete with --profile")
    path = _file(s)
    profiles = dict(_load(path).profiles)
    if profiles.pop(name, None) is None:
        raise CommandFailed(f"profile {name!r} is not in {path}")
    _save(s, envconfig.ClientConfig(profiles=profiles))
    s.out.say(f"Deleted profile {name!r}")
    return 0


def list_profiles(s: Session) -> int:
    names = list(_load(_file(s)).profiles)
    s.out.items([[{"name": n} for n in names]], [("Name", lambda p: p["name"])])
    return 0


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "config", help="connection profiles (the TOML profile file)", description=__doc__
    ).add_subparsers(dest="action", required=True, metavar="COMMAND")

    p = group.add_parser("get", parents=common, help="a profile's properties (the key hidden)")
    p.add_argument("--prop", "-p", help="one property")
    p.set_defaults(run=get)
    p = group.add_parser("set", parents=common, help="set a property of a profile")
    p.add_argument(
        "--prop", "-p", required=True, help=f"one of {', '.join(PROPERTIES)}, grpc_meta.<header>"
    )
    p.add_argument("--value", "-v", required=True)
    p.set_defaults(run=set_)
    p = group.add_parser("delete", parents=common, help="remove a property of a profile")
    p.add_argument("--prop", "-p", required=True)
    p.set_defaults(run=delete)
    group.add_parser(
        "delete-profile", parents=common, help="remove a whole profile (--profile)"
    ).set_defaults(run=delete_profile)
    group.add_parser("list", parents=common, help="profile names in the file").set_defaults(
        run=list_profiles
    )
