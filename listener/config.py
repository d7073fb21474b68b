"""sources.yaml → validated configuration. Credentials come from the environment only.

The common keys (``id``, ``kind``, ``schedule`` …) are checked here; each collector kind
brings its own pydantic model for the rest (``Collector.Config``), so adding a platform needs
no change here. Every error is one line naming the file, the source id and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from listener.errors import ConfigError
from listener.schedules import Schedule

ID_RE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
# Keys that hold secrets; they belong in the environment, never in sources.yaml.
CREDENTIAL_KEYS = re.compile(
    r"(token|secret|password|passwd|api[_-]?key|bearer|client[_-]?id|app[_-]?password|credential)",
    re.IGNORECASE,
)


class SourceBase(BaseModel):
    """Keys every source has, whatever its kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_RE)
    kind: str
    name: str | None = None
    schedule: str = "1h"
    enabled: bool = True
    # Languages to keep (ISO 639-1; fy = Frisian). Empty list: keep every language.
    languages: list[str] = Field(default_factory=lambda: ["nl", "fy"])
    # Keep posts the classifier finds irrelevant (no theme). Off by default: purpose limitation.
    keep_irrelevant: bool = False
    # Accounts of organisations (municipalities, clubs, media) whose names may be kept unmasked.
    public_accounts: list[str] = Field(default_factory=list)
    retention_days: int | None = Field(default=None, ge=1)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        Schedule.parse(v)
        return v

    @property
    def parsed_schedule(self) -> Schedule:
        return Schedule.parse(self.schedule)

    @property
    def display_name(self) -> str:
        return self.name or self.id


class Settings(BaseModel):
    """The ``settings:`` block: deployment-wide options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contact: str | None = None  # put in the User-Agent so feed owners can reach us
    retention_days: int = Field(default=90, ge=1)
    # Sources collected at the same time. Feeds mostly wait on the network: 500 feeds that each
    # answer in 200 ms spend 12.5 s waiting at 8, 3.1 s at 32.
    concurrency: int = Field(default=32, ge=1, le=64)
    # Of those, at most this many requests to one feed host (scheme, host and port) at a time:
    # ten generated news-search feeds must not hit one site with ten requests at once.
    per_host: int = Field(default=4, ge=1, le=64)
    timeout_s: float = Field(default=20.0, gt=0, le=300)
    max_body_mb: float = Field(default=10.0, gt=0, le=500)
    max_items_per_run: int = Field(default=1000, ge=1)
    batch_size: int = Field(default=500, ge=1, le=10000)
    max_wait_s: float = Field(default=0.0, ge=0, le=900)  # longer rate limits defer to the next run


class _TopLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: Settings = Field(default_factory=Settings)
    keyword_sets: dict[str, list[str]] = Field(default_factory=dict)
    sources: list[dict[str, Any]] = Field(default_factory=list)
    generate: list[dict[str, Any]] = Field(default_factory=list)  # see listener.collectors.generate


@dataclass(frozen=True)
class Config:
    """A validated sources.yaml."""

    path: Path
    settings: Settings
    sources: tuple[SourceBase, ...]
    keyword_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def source(self, source_id: str) -> SourceBase:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise ConfigError(f"{self.path.name}: no source with id '{source_id}'")


def _loc(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "?"


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    field_name = _loc(err)
    if err["type"] == "missing":
        return field_name, "is missing"
    if err["type"] == "extra_forbidden":
        return field_name, "is not a known field"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return field_name, msg


# Values that are credentials whatever key they sit under: an X/Twitter app bearer token, a
# password in a URL (scheme://user:password@host), a JWT, a "Bearer …" header, well-known token
# prefixes (GitHub, Slack, OpenAI-style keys).
CREDENTIAL_VALUES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\s*A{8,}[A-Za-z0-9%+/=_-]{20,}\s*$"), "a bearer token"),
    (re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,15}://[^/\s:@?#]*:[^/\s@?#]+@"), "a password in a URL"),
    (re.compile(r"(?i)^\s*bearer\s+\S{16,}"), "a bearer token"),
    (re.compile(r"^\s*eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\s*$"), "a JSON web token"),
    (re.compile(r"^\s*(?:ghp_|gho_|github_pat_|xox[abpr]-|sk-[A-Za-z0-9_-]{16,})\S{8,}\s*$"), "an API token"),
)


def credential_value_kind(value: str) -> str | None:
    """What kind of credential ``value`` looks like, or None. The value itself is never repeated."""
    for pattern, kind in CREDENTIAL_VALUES:
        if pattern.search(value):
            return kind
    return None


def _find_credentials(node: Any, path: str = "") -> str | None:
    """The path of the first credential-looking key or value (never the value itself)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str) and CREDENTIAL_KEYS.search(k) and v not in (None, "", False):
                return f"{path}{k}"
            hit = _find_credentials(v, f"{path}{k}.")
            if hit:
                return hit
    elif isinstance(node, list):
        for i, v in enumerate(node):
            hit = _find_credentials(v, f"{path}{i}.")
            if hit:
                return hit
    elif isinstance(node, str):
        if credential_value_kind(node):
            return path.rstrip(".") or "?"
    return None


def _resolve_local_url(src: SourceBase, config_path: Path) -> SourceBase:
    # A relative feed path means relative to sources.yaml, not to wherever cron starts us.
    url = getattr(src, "url", None)
    if not isinstance(url, str) or "://" in url or Path(url).is_absolute():
        return src
    return src.model_copy(update={"url": str((config_path.parent / url).resolve())})


def load_config(path: str | Path) -> Config:
    """Read and validate sources.yaml; raise ConfigError with a one-line message on any problem."""
    p = Path(path)
    name = str(path)
    try:
        raw_text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: file not found (use --sources FILE or LISTENER_SOURCES)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(raw_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{name}:{where} invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: the top level must be a mapping with a 'sources:' list")
    return parse_config(data, p)


def parse_config(data: dict[str, Any], path: Path) -> Config:
    """Validate an already-parsed sources.yaml mapping."""
    from listener.collectors.base import registry
    from listener.collectors.generate import expand_generated

    data = expand_generated(data, str(path))
    name = str(path)
    cred = _find_credentials({k: v for k, v in data.items() if k != "sources"})
    if cred:
        raise ConfigError(f"{name}: field '{cred}' looks like a credential; credentials come only from environment variables")
    try:
        top = _TopLevel.model_validate(data)
    except ValidationError as exc:
        fld, msg = _first_error(exc)
        raise ConfigError(f"{name}: field '{fld}' {msg}") from None

    kinds = registry()
    seen: dict[str, int] = {}
    sources: list[SourceBase] = []
    for i, entry in enumerate(top.sources, start=1):
        if not isinstance(entry, dict):
            raise ConfigError(f"{name}: source #{i}: must be a mapping with id, kind, …")
        sid = entry.get("id")
        label = f"source '{sid}'" if isinstance(sid, str) and sid else f"source #{i}"
        cred = _find_credentials(entry)
        if cred:
            raise ConfigError(
                f"{name}: {label}: field '{cred}' looks like a credential; "
                "credentials come only from environment variables (see README)"
            )
        if not sid:
            raise ConfigError(f"{name}: {label}: field 'id' is missing")
        kind = entry.get("kind")
        if not kind:
            raise ConfigError(f"{name}: {label}: field 'kind' is missing")
        if kind not in kinds:
            known = ", ".join(sorted(kinds))
            raise ConfigError(f"{name}: {label}: field 'kind': unknown kind '{kind}' (known: {known})")
        model: type[SourceBase] = getattr(kinds[kind], "Config", SourceBase)
        try:
            src = model.model_validate(entry)
        except ValidationError as exc:
            fld, msg = _first_error(exc)
            raise ConfigError(f"{name}: {label}: field '{fld}' {msg}") from None
        if src.id in seen:
            raise ConfigError(f"{name}: {label}: duplicate id (also source #{seen[src.id]})")
        kw = getattr(src, "keywords", None)
        if isinstance(kw, str) and kw not in top.keyword_sets:
            known = ", ".join(sorted(top.keyword_sets)) or "none defined under keyword_sets:"
            raise ConfigError(f"{name}: {label}: field 'keywords': unknown keyword set '{kw}' (known: {known})")
        seen[src.id] = i
        sources.append(_resolve_local_url(src, path))
    return Config(
        path=path,
        settings=top.settings,
        sources=tuple(sources),
        keyword_sets={k: tuple(v) for k, v in top.keyword_sets.items()},
    )
