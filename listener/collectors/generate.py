"""Generated sources: public hashtag and news-search RSS feeds made from keyword sets.

A fresh install has no API credentials, but Mastodon serves every hashtag as RSS and Google
News serves every search as RSS. A ``generate:`` block in sources.yaml turns keyword sets and
tag lists into ordinary ``kind: rss`` sources with deterministic ids, so their cursors and
health survive restarts::

    generate:
      - template: mastodon_tag          # https://INSTANCE/tags/TAG.rss
        instance: mastodon.nl
        tags: [krimp, leefbaarheid]
        schedule: 1h
      - template: google_news           # news.google.com/rss/search?q=…&hl=nl&gl=NL&ceid=NL:nl
        keyword_set: alledaags          # or  phrases: ["school sluit", …]
        site: dvhn.nl                   # optional: only this site
        when: 7d                        # optional: only the last 7 days
        schedule: 6h

An explicit source with the same id (or URL) as a generated one wins, so one generated feed can
be tuned or disabled by writing it out.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any, Literal
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from listener.collectors.common import hashtags, instance_host
from listener.errors import ConfigError

MAX_PER_BLOCK = 50
_ID_MAX = 64
GOOGLE_NEWS = "https://news.google.com/rss/search?q={q}&hl=nl&gl=NL&ceid=NL:nl"
MASTODON_TAG = "https://{instance}/tags/{tag}.rss"


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: str | None = None
    enabled: bool = True
    languages: list[str] | None = None
    keep_irrelevant: bool | None = None
    retention_days: int | None = Field(default=None, ge=1)
    id_prefix: str = Field(default="gen", pattern=r"^[a-z0-9][a-z0-9_.-]{0,15}$")

    def common(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": self.enabled}
        for key in ("schedule", "languages", "keep_irrelevant", "retention_days"):
            v = getattr(self, key)
            if v is not None:
                out[key] = v
        return out


class MastodonTagBlock(_Common):
    template: Literal["mastodon_tag"]
    instance: str = "mastodon.nl"
    tags: list[str] = Field(min_length=1)

    @field_validator("instance")
    @classmethod
    def _instance(cls, v: str) -> str:
        return instance_host(v)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        return hashtags(v)


class GoogleNewsBlock(_Common):
    template: Literal["google_news"]
    keyword_set: str | None = None
    phrases: list[str] | None = None
    site: str | None = None
    when: str | None = Field(default=None, pattern=r"^\d{1,3}[hdy]$")

    @field_validator("site")
    @classmethod
    def _site(cls, v: str | None) -> str | None:
        if v is None:
            return v
        host = v.strip().lower().removeprefix("https://").removeprefix("http://").strip("/")
        if not re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}", host):
            raise ValueError(f"'{v}' is not a site host name such as dvhn.nl")
        return host

    @model_validator(mode="after")
    def _one(self) -> "GoogleNewsBlock":
        if bool(self.keyword_set) == bool(self.phrases):
            raise ValueError("give either 'keyword_set' or 'phrases'")
        return self


TEMPLATES: dict[str, type[_Common]] = {"mastodon_tag": MastodonTagBlock, "google_news": GoogleNewsBlock}


def slug(text: str) -> str:
    """ASCII, lowercase, dashes: ``"Dorpshuis Oude Pekela"`` → ``"dorpshuis-oude-pekela"``."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "-", t).strip("-")


def make_id(prefix: str, *parts: str) -> str:
    """A source id within the 64-character limit; a short hash keeps long or non-Latin ones unique."""
    raw = "-".join(p for p in (slug(x) for x in parts) if p)
    full = f"{prefix}-{raw}" if raw else prefix
    key = "|".join(parts)
    if len(full) <= _ID_MAX and raw and all(slug(p) for p in parts):
        return full
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    return f"{full[: _ID_MAX - 9].rstrip('-')}-{digest}"


def google_news_url(phrase: str, site: str | None = None, when: str | None = None) -> str:
    """The Google News RSS search URL for one phrase (quoted when it has several words)."""
    term = f'"{phrase}"' if " " in phrase else phrase
    q = " ".join(x for x in (f"site:{site}" if site else "", term, f"when:{when}" if when else "") if x)
    return GOOGLE_NEWS.format(q=quote_plus(q, safe=":"))


def _block_sources(block: _Common, keyword_sets: dict[str, Any], where: str) -> list[dict[str, Any]]:
    if isinstance(block, MastodonTagBlock):
        return [
            {"id": make_id(block.id_prefix, block.instance.split(":")[0], tag),
             "kind": "rss", "platform": "mastodon", "name": f"#{tag} op {block.instance}",
             "url": MASTODON_TAG.format(instance=block.instance, tag=quote(tag)), **block.common()}
            for tag in block.tags
        ]
    assert isinstance(block, GoogleNewsBlock)
    if block.keyword_set is not None:
        phrases = keyword_sets.get(block.keyword_set)
        if not isinstance(phrases, list):
            known = ", ".join(sorted(keyword_sets)) or "none defined"
            raise ConfigError(f"{where}: field 'keyword_set': unknown keyword set '{block.keyword_set}' (known: {known})")
    else:
        phrases = block.phrases or []
    phrases = [" ".join(str(p).replace('"', " ").split()) for p in phrases]
    phrases = list(dict.fromkeys(p for p in phrases if p))
    return [
        {"id": make_id(block.id_prefix, "gnews", *( [block.site] if block.site else []), p),
         "kind": "rss", "platform": "news", "name": f"Google News: {p}" + (f" ({block.site})" if block.site else ""),
         "url": google_news_url(p, block.site, block.when), **block.common()}
        for p in phrases
    ]


def expand_generated(data: dict[str, Any], source_name: str = "sources.yaml") -> dict[str, Any]:
    """Return ``data`` with its ``generate:`` blocks added to ``sources:`` as RSS sources.

    The input is not modified. Explicit sources keep precedence: a generated source whose id
    or URL an explicit source already has is left out.
    """
    if not isinstance(data, dict) or not data.get("generate"):
        return data
    blocks = data["generate"]
    if not isinstance(blocks, list):
        raise ConfigError(f"{source_name}: field 'generate' must be a list of blocks with a 'template'")
    keyword_sets = data.get("keyword_sets") or {}
    if not isinstance(keyword_sets, dict):
        keyword_sets = {}
    explicit = [s for s in (data.get("sources") or []) if isinstance(s, dict)]
    taken_ids = {s.get("id") for s in explicit}
    taken_urls = {s.get("url") for s in explicit if s.get("url")}
    generated: list[dict[str, Any]] = []
    for i, raw in enumerate(blocks, start=1):
        where = f"{source_name}: generate #{i}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be a mapping with a 'template'")
        template = raw.get("template")
        if template not in TEMPLATES:
            raise ConfigError(f"{where}: field 'template': unknown template '{template}' "
                              f"(known: {', '.join(sorted(TEMPLATES))})")
        where = f"{source_name}: generate #{i} ({template})"
        try:
            block = TEMPLATES[template].model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err.get("loc", ())) or "?"
            msg = {"missing": "is missing", "extra_forbidden": "is not a known field"}.get(
                err["type"], err["msg"].removeprefix("Value error, "))
            raise ConfigError(f"{where}: field '{field}' {msg}") from None
        sources = _block_sources(block, keyword_sets, where)
        if len(sources) > MAX_PER_BLOCK:
            raise ConfigError(f"{where}: would make {len(sources)} sources; at most {MAX_PER_BLOCK} per block "
                              "(split the keyword set)")
        for s in sources:
            if s["id"] in taken_ids or s["url"] in taken_urls:
                continue
            taken_ids.add(s["id"])
            taken_urls.add(s["url"])
            generated.append(s)
    out = dict(data)
    out["sources"] = list(data.get("sources") or []) + generated
    return out
