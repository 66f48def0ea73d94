"""Configuration, read once from `FENGQIAO_*` environment variables at the edge."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeVar

from fengqiao.domain.errors import SettingsError
from fengqiao.platform.console_settings import ConsoleSettings
from fengqiao.platform.grpc_tls import PLAIN_GRPC, GrpcTls
from fengqiao.platform.nats_client import PLAIN, NatsOptions

LogFormat = Literal["auto", "json", "console"]
_LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "console")
_LOG_LEVELS = ("debug", "info", "warning", "error")


# Below the consumers' max_deliver, so the last attempt can still move to dead letters.
MAX_DELIVERY_ATTEMPTS = 15
N = TypeVar("N", int, float)


def _path(raw: str) -> Path | None:
    return Path(raw) if raw else None


def _number(get: Callable[[str, str], str], name: str, default: N, kind: type[N]) -> N:
    raw = get(name, str(default))
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"FENGQIAO_{name}={raw!r}: not a number") from None
    if value < 0:
        raise SettingsError(f"FENGQIAO_{name}={raw!r}: must not be negative")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    # Empty: start the embedded nats-server from the virtual environment.
    nats_url: str = ""
    # True once fengqiao started that embedded server itself (the demo, development).
    nats_embedded: bool = False
    # This service's NATS user, TLS files and start-up wait (see deploy/nats/auth.conf).
    nats: NatsOptions = PLAIN
    # TLS of the gRPC APIs (and of fengqiao's own gRPC clients).
    grpc_tls: GrpcTls = PLAIN_GRPC
    intake_addr: str = "127.0.0.1:50051"
    triage_addr: str = "127.0.0.1:50052"
    notification_addr: str = "127.0.0.1:50053"
    # The first policy version only: triage publishes it on a bus that has none, then
    # follows the version published on the bus (`fengqiao rules publish`).
    policy_file: Path = Path("rules/triage.yaml")
    # Where the embedded nats-server keeps JetStream data, and the SQLite read model.
    data_dir: Path = Path("var")
    # The read model's database: empty for SQLite under `data_dir`, or a PostgreSQL URL
    # (`postgresql://user:password@host:5432/fengqiao`) shared by the replicas.
    database_url: str = ""
    log_format: LogFormat = "auto"
    log_level: str = "info"
    # host:port of the Prometheus scrape endpoint (`0.0.0.0:9464` in containers); empty: none.
    metrics_addr: str = ""
    # Who receives notifications through which channel (webhook, email, log).
    directory_file: Path = Path("rules/directory.yaml")
    # HMAC-SHA256 key for webhook signatures; set it in production.
    webhook_secret: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "fengqiao@localhost"
    # The city's SMS gateway (政务短信平台), for parties who gave no email: a signed JSON
    # POST per message (README). Unset: the SMS is written to the log instead.
    sms_gateway_url: str = ""
    sms_secret: str = ""
    delivery_attempts: int = 6
    delivery_backoff_seconds: float = 2.0
    # Intake looks this often for disputes stored this long ago or more and still not
    # announced to triage (`intake/sweeper.py`), and announces them.
    sweep_seconds: float = 30.0
    # The console (`fengqiao console`): its address, session key, users or single sign-on.
    console: ConsoleSettings = field(default_factory=ConsoleSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings from `env` (normally `os.environ`); unset variables keep their defaults."""
        default = cls()

        def get(name: str, fallback: str) -> str:
            return env.get(f"FENGQIAO_{name}", "").strip() or fallback

        log_format = get("LOG_FORMAT", default.log_format)
        if log_format not in _LOG_FORMATS:
            raise SettingsError(
                f"FENGQIAO_LOG_FORMAT={log_format!r}: use one of {', '.join(_LOG_FORMATS)}"
            )
        log_level = get("LOG_LEVEL", default.log_level).lower()
        if log_level not in _LOG_LEVELS:
            raise SettingsError(
                f"FENGQIAO_LOG_LEVEL={log_level!r}: use one of {', '.join(_LOG_LEVELS)}"
            )
        settings = cls(
            nats_url=get("NATS_URL", default.nats_url),
            nats=NatsOptions(
                user=get("NATS_USER", ""),
                password=env.get("FENGQIAO_NATS_PASSWORD", ""),
                tls_ca=_path(get("NATS_TLS_CA", "")),
                tls_cert=_path(get("NATS_TLS_CERT", "")),
                tls_key=_path(get("NATS_TLS_KEY", "")),
                connect_wait_seconds=_number(
                    get, "NATS_CONNECT_WAIT_SECONDS", PLAIN.connect_wait_seconds, float
                ),
            ),
            intake_addr=get("INTAKE_ADDR", default.intake_addr),
            triage_addr=get("TRIAGE_ADDR", default.triage_addr),
            notification_addr=get("NOTIFICATION_ADDR", default.notification_addr),
            policy_file=Path(get("POLICY_FILE", str(default.policy_file))),
            data_dir=Path(get("DATA_DIR", str(default.data_dir))),
            database_url=get("DATABASE_URL", default.database_url),
            log_format=log_format,
            log_level=log_level,
            metrics_addr=get("METRICS_ADDR", ""),
            grpc_tls=GrpcTls(
                cert=_path(get("GRPC_TLS_CERT", "")),
                key=_path(get("GRPC_TLS_KEY", "")),
                client_ca=_path(get("GRPC_TLS_CLIENT_CA", "")),
                ca=_path(get("GRPC_TLS_CA", "")),
                server_name=get("GRPC_TLS_SERVER_NAME", ""),
            ),
            directory_file=Path(get("DIRECTORY_FILE", str(default.directory_file))),
            webhook_secret=env.get("FENGQIAO_WEBHOOK_SECRET", ""),
            smtp_host=get("SMTP_HOST", default.smtp_host),
            smtp_port=_number(get, "SMTP_PORT", default.smtp_port, int),
            smtp_sender=get("SMTP_SENDER", default.smtp_sender),
            sms_gateway_url=get("SMS_GATEWAY_URL", ""),
            sms_secret=env.get("FENGQIAO_SMS_SECRET", ""),
            delivery_attempts=_number(get, "DELIVERY_ATTEMPTS", default.delivery_attempts, int),
            delivery_backoff_seconds=_number(
                get, "DELIVERY_BACKOFF_SECONDS", default.delivery_backoff_seconds, float
            ),
            sweep_seconds=_number(get, "SWEEP_SECONDS", default.sweep_seconds, float),
            console=ConsoleSettings.from_env(env),
        )
        if get("POLICY_RELOAD_SECONDS", "0") not in ("0", "0.0"):
            # Watching the file would put a version in force past its checks and on one
            # replica only; saying so beats a ConfigMap update that silently does nothing.
            raise SettingsError(
                "FENGQIAO_POLICY_RELOAD_SECONDS is no longer used: triage follows the policy "
                "version published on the bus; publish a file with `fengqiao rules publish "
                "FILE --comment …` and remove the variable"
            )
        if settings.sms_gateway_url and not settings.sms_gateway_url.startswith(
            ("http://", "https://")
        ):
            raise SettingsError(
                f"FENGQIAO_SMS_GATEWAY_URL={settings.sms_gateway_url!r}: use an http(s):// URL"
            )
        if problems := settings.nats.problems() + settings.grpc_tls.problems():
            raise SettingsError("; ".join(problems))
        if settings.sweep_seconds <= 0:
            raise SettingsError(
                f"FENGQIAO_SWEEP_SECONDS={settings.sweep_seconds}: must be more than 0"
            )
        if not 1 <= settings.delivery_attempts <= MAX_DELIVERY_ATTEMPTS:
            raise SettingsError(
                f"FENGQIAO_DELIVERY_ATTEMPTS={settings.delivery_attempts}: "
                f"use 1 to {MAX_DELIVERY_ATTEMPTS}"
            )
        for name, addr in (
            *([("METRICS_ADDR", settings.metrics_addr)] if settings.metrics_addr else []),
            ("INTAKE_ADDR", settings.intake_addr),
            ("TRIAGE_ADDR", settings.triage_addr),
            ("NOTIFICATION_ADDR", settings.notification_addr),
        ):
            host, sep, port = addr.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise SettingsError(f"FENGQIAO_{name}={addr!r}: use host:port, e.g. 0.0.0.0:50051")
        return settings

    def bound(self, service: str, port: int) -> Settings:
        """These settings with `service`'s address on `port` if it asked for any free port
        (`:0`), so clients started in the same process find it."""

        def on(addr: str) -> str:
            host, _, wanted = addr.rpartition(":")
            return f"{host}:{port}" if wanted == "0" else addr

        if service == "intake":
            return replace(self, intake_addr=on(self.intake_addr))
        if service == "triage":
            return replace(self, triage_addr=on(self.triage_addr))
        if service == "notification":
            return replace(self, notification_addr=on(self.notification_addr))
        if service == "console":
            return replace(self, console=replace(self.console, addr=on(self.console.addr)))
        return self

    def with_nats(self, url: str) -> Settings:
        """These settings, on the embedded nats-server at `url`."""
        return replace(self, nats_url=url, nats_embedded=True)
