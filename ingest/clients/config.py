"""A client's configuration, read from the environment: each field of a config names its variable beside its
default, and one reader fills them all the same way (an unset or empty variable takes the default)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self


def env_field(variable: str, default: Any = "", parse: Callable[[Any], Any] | None = None) -> Any:
    """A field read from ``variable``, else ``default``; ``parse``, when given, takes either and returns the value.

    ``{prefix}`` in ``variable`` stands for the config's ``env_prefix``."""
    return field(default=default, metadata={"variable": variable, "parse": parse})


def without_trailing_slash(url: str) -> str:
    """A base URL as paths are appended to it."""
    return url.rstrip("/")


@dataclass(frozen=True)
class ClientConfig:
    """The base of a client's config, a frozen dataclass of ``env_field``s: what every client reads the same way,
    the CA bundle and the OAuth app and user it logs in as (``<env_prefix>_CLIENT_ID``, ``_CLIENT_SECRET``,
    ``_USERNAME``, ``_PASSWORD``)."""

    env_prefix: ClassVar[str]
    # read from the mapping the config is built from, like every field: it need not be os.environ
    ca_bundle: str | None = env_field("REQUESTS_CA_BUNDLE", None)
    client_id: str = env_field("{prefix}_CLIENT_ID")
    client_secret: str = env_field("{prefix}_CLIENT_SECRET")
    username: str = env_field("{prefix}_USERNAME")
    password: str = env_field("{prefix}_PASSWORD")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            value = env.get(f.metadata["variable"].format(prefix=cls.env_prefix)) or f.default
            parse = f.metadata["parse"]
            values[f.name] = value if parse is None else parse(value)
        return cls(**values)
