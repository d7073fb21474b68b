"""Posts → rows for the store: clean, detect the language, mask, hash, classify.

Two steps, so the run loop can spread the work: ``screen`` (cleaning, language filter, masking,
hashing: plain functions of a post's text, cheap to run in a worker process) and ``to_rows``
(classification with the one loaded model, pseudonymous ids, tags). ``prepare`` does both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from listener.config import SourceBase
from listener.language import detect, keep
from listener.models import Post
from listener.privacy import mask_text, mask_url_credentials, pseudonymous_id
from listener.store.queries import NewPost
from listener.tagging import Tagger, tag_rows
from listener.text import clean_text, content_hash

# Per post: (masked text, language, content hash), or None when the post is left out (empty,
# or a language the source does not keep).
Screened = tuple[str, str | None, str] | None


@dataclass
class IngestCounts:
    fetched: int = 0
    new: int = 0
    duplicate: int = 0
    skipped: int = 0  # empty, or another language
    irrelevant: int = 0  # no theme: dropped (purpose limitation)


def screen_args(posts: Sequence[Post], source: SourceBase) -> tuple[list[tuple[str, str | None]], tuple[str, ...],
                                                                    frozenset[str]]:
    """The arguments of ``screen`` for these posts: plain values, cheap to send to a process."""
    public = frozenset(a.lower().lstrip("@") for a in source.public_accounts)
    return [(p.text, p.language) for p in posts], tuple(source.languages), public


def screen(texts: Sequence[tuple[str, str | None]], languages: Sequence[str],
           public_accounts: frozenset[str]) -> list[Screened]:
    """Clean, filter by language, mask and hash (text, language given by the platform) pairs."""
    out: list[Screened] = []
    for raw, given in texts:
        text = clean_text(raw)
        if not text:
            out.append(None)
            continue
        lang = given or detect(text)
        if lang:
            lang = lang.lower()[:8]
        if not keep(lang, languages):
            out.append(None)
            continue
        masked = mask_text(text, public_accounts)
        out.append((masked, lang, content_hash(masked)))
    return out


def to_rows(batches: Sequence[tuple[Sequence[Post], Sequence[Screened], SourceBase, IngestCounts]],
            tagger: Tagger | None) -> list[list[NewPost]]:
    """Rows for screened posts of several sources, classified together (spaCy likes big batches)."""
    texts = [s[0] for _, screened, _, _ in batches for s in screened if s is not None]
    classifications: Iterator[Any] = iter([None] * len(texts))
    version = None
    if tagger is not None and texts:
        version = tagger.version
        classifications = iter(list(tagger.classify_many(texts)))
    out: list[list[NewPost]] = []
    for posts, screened, source, counts in batches:
        counts.fetched += len(posts)
        rows: list[NewPost] = []
        for p, s in zip(posts, screened):
            if s is None:
                counts.skipped += 1
                continue
            text, lang, digest = s
            c = next(classifications)
            if c is not None and not c.themes and not source.keep_irrelevant:
                counts.irrelevant += 1
                continue
            rows.append(NewPost(
                source_id=p.source_id, platform=p.platform, external_id=pseudonymous_id(p.platform, p.external_id),
                text=text, url=_strip_userinfo(p.url), language=lang, created_at=p.created_at,
                author_key=p.author_key, content_hash=digest, raw=dict(p.raw) if p.raw else None,
                tags=tag_rows(c, version) if c is not None else (), classifier_version=version,
            ))
        out.append(rows)
    return out


def prepare(posts: Sequence[Post], source: SourceBase, tagger: Tagger | None,
            counts: IngestCounts) -> list[NewPost]:
    """Clean, filter by language, mask, hash and classify posts; drop irrelevant ones."""
    return to_rows([(posts, screen(*screen_args(posts, source)), source, counts)], tagger)[0]


def _strip_userinfo(url: str | None) -> str | None:
    # a link is kept for human oversight, but never with a user:password in it
    return mask_url_credentials(url).replace("://***@", "://") if url else url
