"""The console's settings (`FENGQIAO_CONSOLE_*`), part of `Settings`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fengqiao.domain.errors import SettingsError


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """The city platform's single sign-on (OpenID Connect, authorization code flow)."""

    # The provider's discovery document: https://sso.example.gov.cn/.well-known/openid-configuration
    metadata_url: str
    client_id: str
    client_secret: str
    # The claim holding the user's console roles (a list, or a space-separated string).
    roles_claim: str = "roles"


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    addr: str = "127.0.0.1:8080"
    # Signs the session cookie; empty: a random key per start (everyone signs in again
    # after a restart, and replicas do not share sessions).
    secret: str = ""
    # Users with bcrypt-hashed passwords (`fengqiao console hash-password`), when there is
    # no single sign-on; ignored when `oidc` is set.
    users_file: Path = Path("var/console-users.yaml")
    oidc: OidcSettings | None = None
    # Cookies only over HTTPS: on whenever the console is reached through the platform's
    # TLS front (FENGQIAO_CONSOLE_SECURE_COOKIES=1); off for the embedded default on loopback.
    secure_cookies: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ConsoleSettings:
        default = cls()

        def get(name: str, fallback: str = "") -> str:
            return env.get(f"FENGQIAO_CONSOLE_{name}", "").strip() or fallback

        oidc = None
        if metadata := get("OIDC_METADATA_URL"):
            client_id, client_secret = get("OIDC_CLIENT_ID"), get("OIDC_CLIENT_SECRET")
            if not client_id or not client_secret:
                raise SettingsError(
                    "FENGQIAO_CONSOLE_OIDC_METADATA_URL is set: set "
                    "FENGQIAO_CONSOLE_OIDC_CLIENT_ID and FENGQIAO_CONSOLE_OIDC_CLIENT_SECRET too "
                    "(from the platform's SSO registration)"
                )
            if not metadata.startswith(("https://", "http://")):
                raise SettingsError(
                    f"FENGQIAO_CONSOLE_OIDC_METADATA_URL={metadata!r}: use the provider's "
                    "https://…/.well-known/openid-configuration"
                )
            oidc = OidcSettings(
                metadata, client_id, client_secret, get("OIDC_ROLES_CLAIM", "roles")
            )
        secure = get("SECURE_COOKIES", "0")
        if secure not in ("0", "1"):
            raise SettingsError(f"FENGQIAO_CONSOLE_SECURE_COOKIES={secure!r}: use 0 or 1")
        settings = cls(
            addr=get("ADDR", default.addr),
            secret=env.get("FENGQIAO_CONSOLE_SECRET", ""),
            users_file=Path(get("USERS_FILE", str(default.users_file))),
            oidc=oidc,
            secure_cookies=secure == "1",
        )
        host, sep, port = settings.addr.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise SettingsError(
                f"FENGQIAO_CONSOLE_ADDR={settings.addr!r}: use host:port, e.g. 0.0.0.0:8080"
            )
        return settings
