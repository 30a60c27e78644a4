"""Connection profiles: where a client connects, read from a TOML file and the environment.

Temporal's `temporalio.envconfig` with Perdure's names: the file is `perdure.toml` in
`$XDG_CONFIG_HOME/perdure/` (`~/.config/perdure/` by default) or `PERDURE_CONFIG_FILE`; a profile
is a `[profile.<name>]` table chosen by `PERDURE_PROFILE` (default `default`) with `address`,
`namespace`, `api_key`, `[…tls]` and `[…grpc_meta]` (HTTP headers here); `PERDURE_ADDRESS`,
`PERDURE_NAMESPACE`, `PERDURE_API_KEY` and `PERDURE_TLS` override the file's values.

    from perdure.client import Client
    from perdure.envconfig import ClientConfig

    client = await Client.connect(**ClientConfig.load_client_connect_config())

`perdure config set` (the command line) writes the same file.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeAlias, TypedDict, cast

DataSource: TypeAlias = Path | str | bytes
"""A file to read (`Path`), or its contents (`str`, `bytes`), as in temporalio."""

DEFAULT_PROFILE = "default"
ENV_CONFIG_FILE = "PERDURE_CONFIG_FILE"
ENV_PROFILE = "PERDURE_PROFILE"
_PROFILE_KEYS = {"address", "namespace", "api_key", "tls", "grpc_meta"}
_TLS_KEYS = {"disabled", "server_name", "server_ca_cert", "client_cert", "client_key"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """The profile file or an environment variable cannot be used; the message says which and
    why (temporalio raises its bridge's error in the same places)."""


class ClientConfigTLSDict(TypedDict, total=False):
    """A profile's `tls` table as it is in the file."""

    disabled: bool
    server_name: str
    server_ca_cert: Mapping[str, str]
    client_cert: Mapping[str, str]
    client_key: Mapping[str, str]


class ClientConfigProfileDict(TypedDict, total=False):
    """A profile as it is in the file."""

    address: str
    namespace: str
    api_key: str
    tls: ClientConfigTLSDict
    grpc_meta: Mapping[str, str]


class ClientConnectConfig(TypedDict, total=False):
    """Keyword arguments of `perdure.client.Client.connect` (temporalio's `ClientConnectConfig`;
    TLS is carried by the address's scheme, so there is no `tls` key)."""

    target_host: str
    namespace: str
    api_key: str
    rpc_metadata: Mapping[str, str]


def _source(d: Mapping[str, str] | None) -> DataSource | None:
    if not d:
        return None
    if "data" in d:
        return str(d["data"])
    if "path" in d:
        return Path(d["path"])
    return None


def _source_dict(source: DataSource | None) -> dict[str, str] | None:
    if isinstance(source, Path):
        return {"path": str(source)}
    if isinstance(source, bytes):
        return {"data": source.decode()}
    if isinstance(source, str):
        return {"data": source}
    return None


@dataclass(frozen=True)
class ClientConfigTLS:
    """A profile's TLS settings (temporalio's `ClientConfigTLS`).

    Over HTTP, TLS is the `https` scheme: a `tls` table makes a scheme-less address
    `https://…` unless it says `disabled = true`; an address with a scheme keeps it.
    Certificates (a private CA, client certificates for mTLS) are read from the file so that a
    Temporal profile loads, but the client cannot use them yet: `to_client_connect_config`
    refuses a profile that sets them rather than connecting without them."""

    disabled: bool | None = None
    server_name: str | None = None
    server_root_ca_cert: DataSource | None = None
    client_cert: DataSource | None = None
    client_private_key: DataSource | None = None

    @staticmethod
    def from_dict(d: ClientConfigTLSDict | None) -> ClientConfigTLS | None:
        """The settings of a file's `tls` table; None when there is none."""
        if not d:
            return None
        return ClientConfigTLS(
            disabled=d.get("disabled"),
            server_name=d.get("server_name"),
            server_root_ca_cert=_source(d.get("server_ca_cert")),
            client_cert=_source(d.get("client_cert")),
            client_private_key=_source(d.get("client_key")),
        )

    def to_dict(self) -> ClientConfigTLSDict:
        """The `tls` table as the file holds it."""
        d: ClientConfigTLSDict = {}
        if self.disabled is not None:
            d["disabled"] = self.disabled
        if self.server_name is not None:
            d["server_name"] = self.server_name
        for key, value in (
            ("server_ca_cert", self.server_root_ca_cert),
            ("client_cert", self.client_cert),
            ("client_key", self.client_private_key),
        ):
            if (as_dict := _source_dict(value)) is not None:
                d[key] = as_dict  # type: ignore[literal-required]  # one of the three keys
        return d


@dataclass(frozen=True)
class ClientConfigProfile:
    """One profile: where to connect and as whom (temporalio's `ClientConfigProfile`)."""

    address: str | None = None
    namespace: str | None = None
    api_key: str | None = None
    tls: ClientConfigTLS | None = None
    grpc_meta: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def from_dict(d: ClientConfigProfileDict) -> ClientConfigProfile:
        """A profile from its table in the file."""
        return ClientConfigProfile(
            address=d.get("address"),
            namespace=d.get("namespace"),
            api_key=d.get("api_key"),
            tls=ClientConfigTLS.from_dict(d.get("tls")),
            grpc_meta=dict(d.get("grpc_meta") or {}),
        )

    def to_dict(self) -> ClientConfigProfileDict:
        """The profile's table as the file holds it (unset keys left out)."""
        d: ClientConfigProfileDict = {}
        if self.address is not None:
            d["address"] = self.address
        if self.namespace is not None:
            d["namespace"] = self.namespace
        if self.api_key is not None:
            d["api_key"] = self.api_key
        if self.tls is not None and (tls := self.tls.to_dict()):
            d["tls"] = tls
        if self.grpc_meta:
            d["grpc_meta"] = dict(self.grpc_meta)
        return d

    def to_client_connect_config(self) -> ClientConnectConfig:
        """`Client.connect` keyword arguments for the keys this profile sets.

        Raises `ConfigError` for TLS certificates, which the HTTP client cannot use yet."""
        tls = self.tls
        if tls is not None and (
            tls.server_root_ca_cert or tls.client_cert or tls.client_private_key
        ):
            raise ConfigError(
                "the profile sets TLS certificates (server_ca_cert, client_cert, client_key); "
                "Perdure's client does not support them yet: remove them to connect with the "
                "system's certificate authorities"
            )
        config: ClientConnectConfig = {}
        if self.address:
            config["target_host"] = address_url(self.address, tls)
        if self.namespace is not None:
            config["namespace"] = self.namespace
        if self.api_key is not None:
            config["api_key"] = self.api_key
        if self.grpc_meta:
            config["rpc_metadata"] = dict(self.grpc_meta)
        return config

    @staticmethod
    def load(
        profile: str | None = None,
        *,
        config_source: DataSource | None = None,
        disable_file: bool = False,
        disable_env: bool = False,
        config_file_strict: bool = False,
        override_env_vars: Mapping[str, str] | None = None,
    ) -> ClientConfigProfile:
        """One profile from the file (or `config_source`), with the environment's overrides.

        `profile` defaults to `PERDURE_PROFILE`, then `default`. A profile named explicitly that
        the file lacks is a `ConfigError`, as in Temporal; a missing `default` is empty. With
        `config_file_strict`, unknown keys are a `ConfigError`."""
        env = os.environ if override_env_vars is None else override_env_vars
        chosen = profile or (None if disable_env else env.get(ENV_PROFILE)) or None
        loaded = ClientConfigProfile()
        if config_source is not None or not disable_file:
            profiles = _load_profiles(config_source, config_file_strict, env)
            if chosen is not None and chosen not in profiles:
                raise ConfigError(f"profile {chosen!r} is not in the configuration file")
            loaded = profiles.get(chosen or DEFAULT_PROFILE, loaded)
        elif chosen is not None and chosen != DEFAULT_PROFILE:
            raise ConfigError(f"profile {chosen!r} asked for with the configuration file disabled")
        return loaded if disable_env else _apply_env(loaded, env)


@dataclass
class ClientConfig:
    """Every profile of a file (temporalio's `ClientConfig`)."""

    profiles: Mapping[str, ClientConfigProfile]

    def to_dict(self) -> dict[str, ClientConfigProfileDict]:
        """Profile name → its table."""
        return {name: p.to_dict() for name, p in self.profiles.items()}

    def to_toml(self) -> str:
        """The file's text: one `[profile.<name>]` table per profile."""
        return _dump_toml({"profile": self.to_dict()})

    @staticmethod
    def from_dict(d: Mapping[str, Mapping[str, Any]]) -> ClientConfig:
        """Profiles from their tables (profile name → table)."""
        return ClientConfig(
            profiles={
                name: ClientConfigProfile.from_dict(cast(ClientConfigProfileDict, table))
                for name, table in d.items()
            }
        )

    @staticmethod
    def load(
        *,
        config_source: DataSource | None = None,
        disable_file: bool = False,
        config_file_strict: bool = False,
        override_env_vars: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Every profile of the file, without environment overrides (the environment only
        says where the file is, through `PERDURE_CONFIG_FILE`)."""
        env = os.environ if override_env_vars is None else override_env_vars
        if disable_file and config_source is None:
            return ClientConfig(profiles={})
        return ClientConfig(profiles=_load_profiles(config_source, config_file_strict, env))

    @staticmethod
    def load_client_connect_config(
        profile: str | None = None,
        *,
        config_file: str | None = None,
        disable_file: bool = False,
        disable_env: bool = False,
        config_file_strict: bool = False,
        override_env_vars: Mapping[str, str] | None = None,
    ) -> ClientConnectConfig:
        """`Client.connect` keyword arguments from one profile and the environment:
        `await Client.connect(**ClientConfig.load_client_connect_config())`."""
        source = Path(config_file) if config_file and not disable_file else None
        return ClientConfigProfile.load(
            profile,
            config_source=source,
            disable_file=disable_file,
            disable_env=disable_env,
            config_file_strict=config_file_strict,
            override_env_vars=override_env_vars,
        ).to_client_connect_config()

    def save(self, path: Path) -> None:
        """Write the file, readable by its owner only (it holds API keys)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.touch(mode=0o600)
        temporary.write_text(self.to_toml())
        temporary.replace(path)  # a reader never sees half a file


def default_config_file(env: Mapping[str, str] | None = None) -> Path:
    """`PERDURE_CONFIG_FILE`, else `$XDG_CONFIG_HOME/perdure/perdure.toml` (`~/.config` when
    unset), as Temporal's CLI places `temporalio/temporal.toml` in the user's config folder."""
    env = os.environ if env is None else env
    if explicit := env.get(ENV_CONFIG_FILE):
        return Path(explicit).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "perdure" / "perdure.toml"


def address_url(address: str, tls: ClientConfigTLS | None = None) -> str:
    """An address as a base URL: `host:port` means `http://host:port` unless the profile has a
    TLS table that does not disable it (Temporal's rule: a `tls` table turns TLS on); an
    address with a scheme is kept."""
    if "://" in address:
        return address.rstrip("/")
    scheme = "https" if tls is not None and tls.disabled is not True else "http"
    return f"{scheme}://{address}".rstrip("/")


def _apply_env(profile: ClientConfigProfile, env: Mapping[str, str]) -> ClientConfigProfile:
    changes: dict[str, Any] = {}
    for key in ("address", "namespace", "api_key"):
        if value := env.get(f"PERDURE_{key.upper()}"):
            changes[key] = value
    if (raw := env.get("PERDURE_TLS")) is not None and raw.strip():
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            raise ConfigError(f"PERDURE_TLS must be true or false, not {raw!r}")
        changes["tls"] = replace(profile.tls or ClientConfigTLS(), disabled=word in _FALSE)
    return replace(profile, **changes) if changes else profile


def _load_profiles(
    source: DataSource | None, strict: bool, env: Mapping[str, str]
) -> dict[str, ClientConfigProfile]:
    if source is None:
        path = default_config_file(env)
        if not path.exists():
            if env.get(ENV_CONFIG_FILE):
                raise ConfigError(f"{ENV_CONFIG_FILE} names {path}, which does not exist")
            return {}
        source = path
    where = str(source) if isinstance(source, Path) else "the configuration"
    try:
        if isinstance(source, Path):
            text = source.read_text()
        else:
            text = source.decode() if isinstance(source, bytes) else source
        document = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"the configuration file {where} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {where}: {exc}") from None
    tables = document.get("profile", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{where}: 'profile' must be a table of [profile.<name>] tables")
    if strict:
        _check_keys(document, tables, where)
    return {
        name: ClientConfigProfile.from_dict(cast(ClientConfigProfileDict, table))
        for name, table in tables.items()
        if isinstance(table, dict)
    }


def _check_keys(document: dict[str, Any], tables: dict[str, Any], where: str) -> None:
    unknown = [f"{key}" for key in document if key != "profile"]
    for name, table in tables.items():
        unknown += [f"profile.{name}.{k}" for k in table if k not in _PROFILE_KEYS]
        tls = table.get("tls") or {}
        unknown += [f"profile.{name}.tls.{k}" for k in tls if k not in _TLS_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # TOML basic strings take JSON's escapes (\" \\ \n \uXXXX); astral characters stay literal.
    return json.dumps(str(value), ensure_ascii=False)


def _dump_toml(document: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """TOML for nested tables of strings, numbers and booleans (the profile file's shapes;
    the standard library reads TOML but does not write it)."""
    scalars = [(k, v) for k, v in document.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in document.items() if isinstance(v, Mapping)]
    out: list[str] = []
    if prefix and (scalars or not tables):
        out.append("[" + ".".join(_key(p) for p in prefix) + "]")
    out += [f"{_key(k)} = {_value(v)}" for k, v in scalars]
    text = "\n".join(out) + ("\n" if out else "")
    for name, table in tables:
        nested = _dump_toml(table, (*prefix, name))
        if nested:
            text += ("\n" if text else "") + nested
    return text
