"""Ad-hoc full-text search over stored posts, on SQLite (FTS5) and PostgreSQL (tsvector).

The query string is data. We parse the user syntax ourselves — words, "exact phrases", OR,
-exclusion — keep only letters and digits of every word, and build the backend's query
(an FTS5 MATCH string, a tsquery string) that is passed as a bound parameter. Quotes,
brackets, ``*``, ``NEAR(``, ``:`` or SQL in the input are never operators.

Dutch word forms: PostgreSQL stems with its ``dutch`` Snowball configuration
(pinautomaten → pinautomat ← pinautomaat). SQLite's FTS5 has no Dutch stemmer, so each word
is expanded to its likely singular and plural forms (pinautomaten → pinautomaat, bussen →
bus, huizen → huis, and back), each as a prefix query so that compounds are found too
(bus → buslijn). The same expansion feeds the highlighting on both backends.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import Float, bindparam, exists, func, literal_column, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased

from listener.errors import InputError
from listener.reports.weeks import local_date
from listener.store.models import Post, PostTag

MAX_QUERY_CHARS = 500
MAX_TERMS = 16
DEFAULT_LIMIT = 20
CANDIDATES = 2000  # matches ranked at most (newest stored first); see search()
MAX_LIMIT = 10_000
HL_START, HL_END = "\ue000", "\ue001"  # highlight markers (private use: never in a query)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_VOWELS = "aeiou"
# Very common words: on SQLite they would match nearly every post as a prefix.
STOPWORDS = frozenset("de het een en van in op is dat die te met voor niet er zijn aan of".split())


@dataclass(frozen=True, slots=True)
class Term:
    words: tuple[str, ...]  # one word, or the words of a phrase

    @property
    def phrase(self) -> bool:
        return len(self.words) > 1


@dataclass
class Query:
    """AND of clauses; a clause is an OR of terms. ``excluded`` terms must not occur."""

    clauses: list[list[Term]] = field(default_factory=list)
    excluded: list[Term] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.clauses and not self.excluded


def _fold(word: str) -> str:
    w = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in w if not unicodedata.combining(c))


def parse_query(raw: str) -> Query:
    """Parse the user syntax; never raises for odd input, only for a query that is too long."""
    raw = unicodedata.normalize("NFKC", raw or "")
    if len(raw) > MAX_QUERY_CHARS:
        raise InputError(f"search: the query is too long ({len(raw)} characters; at most {MAX_QUERY_CHARS})")
    tokens: list[tuple[str, bool, bool]] = []  # (text, negated, quoted)
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c.isspace():
            i += 1
            continue
        neg = False
        if c == "-" and i + 1 < n and not raw[i + 1].isspace():
            neg, i = True, i + 1
        if raw[i] == '"':
            j = raw.find('"', i + 1)
            j = n if j < 0 else j  # an unclosed quote runs to the end
            tokens.append((raw[i + 1:j], neg, True))
            i = j + 1
        else:
            j = i
            while j < n and not raw[j].isspace() and raw[j] != '"':
                j += 1
            tokens.append((raw[i:j], neg, False))
            i = j
    q = Query()
    pending_or = False
    for tok, neg, quoted in tokens:
        if tok == "OR" and not quoted and not neg:
            pending_or = bool(q.clauses)
            continue
        words = tuple(_fold(w) for w in _WORD.findall(tok))
        if not words:
            continue
        term = Term(words)
        if neg:
            q.excluded.append(term)
        elif pending_or:
            q.clauses[-1].append(term)
        else:
            q.clauses.append([term])
        pending_or = False
    if sum(len(c) for c in q.clauses) + len(q.excluded) > MAX_TERMS:
        raise InputError(f"search: too many search terms (at most {MAX_TERMS})")
    return q


def dutch_forms(word: str) -> tuple[str, list[str]]:
    """The word and its likely other singular/plural forms: pinautomaten → pinautomaat.

    Only forms that a prefix of the word itself does not cover: the plural of "bus" starts
    with "bus", the plural of "automaat" (automaten) does not.
    """
    w = word
    other: list[str] = []
    if len(w) < 4 or not w.isalpha():
        return w, other

    def add(f: str) -> None:
        if len(f) >= 3 and f != w and f not in other:
            other.append(f)

    def cvc(b: str) -> bool:
        return len(b) >= 3 and b[-1] not in _VOWELS and b[-2] in _VOWELS and b[-3] not in _VOWELS

    if w.endswith("en") and len(w) > 4:
        b = w[:-2]
        if b[-1] == b[-2] and b[-1] not in _VOWELS:
            add(b[:-1])  # bussen → bus
        elif b.endswith("z") and b[-2] in _VOWELS:
            add(b[:-1] + "s")  # huizen → huis
        elif b.endswith("v") and b[-2] in _VOWELS:
            add(b[:-1] + "f")  # brieven → brief
        elif cvc(b):
            add(b[:-1] + b[-2] + b[-1])  # automaten → automaat, scholen → school
        else:
            add(b)  # woningen → woning
    elif w.endswith(("els", "ers", "ens", "ems")) and len(w) > 5:
        add(w[:-1])  # winkels → winkel, bakkers → bakker
    else:
        if len(w) >= 4 and w[-1] not in _VOWELS and w[-2] == w[-3] and w[-2] in _VOWELS:
            add(w[:-2] + w[-1] + "en")  # automaat → automaten
        if w.endswith("s") and w[-2] in _VOWELS:
            add(w[:-1] + "zen")  # huis → huizen
        if w.endswith("f") and w[-2] in _VOWELS:
            add(w[:-1] + "ven")  # brief → brieven
    return w, other


def _fts5_quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _fts5_term(term: Term) -> str:
    if term.phrase:
        return _fts5_quote(" ".join(term.words))
    word, other = dutch_forms(term.words[0])
    # The word as a prefix (Dutch compounds: bus → buslijn); its other forms as they are.
    parts = [_fts5_quote(word) + ("*" if len(word) >= 3 else "")]
    parts += [_fts5_quote(f) + ("*" if len(f) >= 6 else "") for f in other]
    return "(" + " OR ".join(parts) + ")"


def _keep_terms(clauses: list[list[Term]]) -> list[list[Term]]:
    kept = [c for c in clauses if not all(not t.phrase and t.words[0] in STOPWORDS for t in c)]
    return kept or clauses


def fts5_match(q: Query, positive: bool = True) -> str:
    """The FTS5 MATCH string: every word quoted (so never an operator), prefix-expanded."""
    if not positive:
        return " OR ".join(_fts5_term(t) for t in q.excluded)
    parts = ["(" + " OR ".join(_fts5_term(t) for t in clause) + ")" for clause in _keep_terms(q.clauses)]
    expr = " AND ".join(parts)
    if q.excluded:
        expr = f"({expr}) NOT ({fts5_match(q, positive=False)})"
    return expr


def _ts_term(term: Term) -> str:
    if term.phrase:
        return "(" + " <-> ".join(f"'{w}'" for w in term.words) + ")"
    word, other = dutch_forms(term.words[0])
    # The dutch stemmer does the rest; no prefix here: a stem as prefix ('emm':*) is too broad.
    return "(" + " | ".join(f"'{f}'" for f in [word, *other]) + ")"


def tsquery_text(q: Query, positive: bool = True) -> str:
    """The to_tsquery('dutch', …) input: words reduced to letters and digits, each quoted."""
    if not positive:
        return " | ".join(_ts_term(t) for t in q.excluded)
    expr = " & ".join("(" + " | ".join(_ts_term(t) for t in clause) + ")" for clause in q.clauses)
    if q.excluded:
        expr = f"({expr}) & !({tsquery_text(q, positive=False)})"
    return expr


@dataclass(frozen=True, slots=True)
class Hit:
    id: int
    date: str
    platform: str
    municipalities: str
    places: str
    themes: str
    signals: str
    snippet: str  # with HL_START/HL_END around the matched words
    url: str
    score: float

    def as_dict(self, markers: tuple[str, str] = ("«", "»")) -> dict[str, Any]:
        return {"id": self.id, "datum": self.date, "platform": self.platform, "gemeente": self.municipalities,
                "plaats": self.places, "themas": self.themes, "signalen": self.signals,
                "fragment": self.snippet.replace(HL_START, markers[0]).replace(HL_END, markers[1]),
                "link": self.url, "score": round(self.score, 4)}


def snippet(text_: str, q: Query, width: int = 180) -> str:
    """A window of ``text_`` around the first match, matched words between HL markers."""
    stems = [f for c in q.clauses for t in c for w in t.words
             for f in ([w, *dutch_forms(w)[1]] if not t.phrase else [w])]
    spans = []
    for m in _WORD.finditer(text_):
        word = _fold(m.group(0))
        if any(word.startswith(s) for s in stems if len(s) >= 3) or word in stems:
            spans.append((m.start(), m.end()))
    start = max(0, spans[0][0] - width // 3) if spans else 0
    end = min(len(text_), start + width)
    if start > 0:
        sp = text_.rfind(" ", 0, start)
        start = sp + 1 if sp >= 0 and start - sp < 20 else start
    out, pos = [], start
    for a, b in spans:
        if a < start or b > end:
            continue
        out += [text_[pos:a], HL_START, text_[a:b], HL_END]
        pos = b
    out.append(text_[pos:end])
    body = " ".join("".join(out).split())
    return ("…" if start > 0 else "") + body + ("…" if end < len(text_) else "")


def _filters(session: Session, p: Any, gemeenten: Sequence[str], themes: Sequence[str], signals: Sequence[str],
             platforms: Sequence[str], since: datetime | None, until: datetime | None) -> list[Any]:
    cond: list[Any] = []
    for kind, values in (("municipality", gemeenten), ("theme", themes), ("signal", signals)):
        if values:
            t = aliased(PostTag)
            cond.append(exists().where(t.post_id == p.id, t.kind == kind, t.tag.in_(list(values))))
    if platforms:
        cond.append(p.platform.in_(list(platforms)))
    when = func.coalesce(p.created_at, p.collected_at)
    if since is not None:
        cond.append(when >= since)
    if until is not None:
        cond.append(when < until)
    return cond


def _excluded(dialect: str, q: Query, p: Any) -> Any:
    """The condition that leaves out posts with an excluded term (a query of only -words)."""
    if dialect == "sqlite":
        excluded = (select(literal_column("rowid")).select_from(text("posts_fts"))
                    .where(text("posts_fts MATCH :m").bindparams(m=fts5_match(q, positive=False))))
        return p.id.not_in(excluded)
    tsx = func.to_tsquery(literal_column("'dutch'::regconfig"), bindparam("tsx", tsquery_text(q, False)))
    return ~literal_column("posts.text_fts").op("@@")(tsx)


def search(session: Session, query: str, gemeenten: Sequence[str] = (), themes: Sequence[str] = (),
           signals: Sequence[str] = (), platforms: Sequence[str] = (), since: datetime | None = None,
           until: datetime | None = None, limit: int = DEFAULT_LIMIT) -> list[Hit]:
    """Posts matching ``query`` and the filters: best match first, newest first on ties.

    An empty query (or one with only exclusions) lists the newest posts that pass the filters.
    Example: ``search(s, 'pinautomaat -Emmen "geen opvolger" OR huisarts', themes=["zorg"])``
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"search: --limit must be between 1 and {MAX_LIMIT}")
    q = parse_query(query)
    p = Post.__table__.c
    when = func.coalesce(p.created_at, p.collected_at)
    cond = _filters(session, p, gemeenten, themes, signals, platforms, since, until)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # Plan each query for its own words: a rare word is found fastest through the GIN index, a
        # common one by walking the newest posts until enough match. A generic plan cannot tell them
        # apart, and one comes into play on a long-lived connection (psycopg prepares a statement
        # after 5 runs, and PostgreSQL may then keep one plan for any words): 'gemeente' took 1.5 s
        # there instead of 10-80 ms. This transaction only.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    cap = max(CANDIDATES, limit)
    if not q.clauses:
        # No words: the newest posts that pass the filters (walks the when-index of migration 0003).
        if q.excluded:
            cond.append(_excluded(dialect, q, p))
        stmt = select(p.id, literal_column("0.0").label("score")).where(*cond).order_by(when.desc(), p.id.desc())
    else:
        # Ranking every match costs time in proportion to the matches (0.5 s per 20,000 on SQLite).
        # So the newest ``cap`` stored matches that pass the filters are the candidates, and the
        # best of them come first: the same answer whenever a query has fewer matches than that.
        if dialect == "sqlite":
            fts = text("SELECT rowid AS id, bm25(posts_fts) AS score FROM posts_fts WHERE posts_fts MATCH :q "
                       "ORDER BY rowid DESC").bindparams(q=fts5_match(q)) \
                .columns(id=Post.id.type, score=Float()).subquery("f")
            found = select(p.id, fts.c.score.label("score"), when.label("w")) \
                .join_from(fts, Post.__table__, fts.c.id == p.id).order_by(fts.c.id.desc())
        else:
            tsq = func.to_tsquery(literal_column("'dutch'::regconfig"), bindparam("tsq", tsquery_text(q)))
            vec = literal_column("posts.text_fts")
            cond.append(vec.op("@@")(tsq))
            found = select(p.id, func.ts_rank(vec, tsq).label("score"), when.label("w")).order_by(p.id.desc())
        c = found.where(*cond).limit(cap).subquery("c")
        # bm25: lower is better; ts_rank: higher is better.
        best = func.round(c.c.score, 6) if dialect == "sqlite" else c.c.score.desc()
        stmt = select(c.c.id, c.c.score).order_by(best, c.c.w.desc(), c.c.id.desc())
    stmt = stmt.limit(limit)
    try:
        ranked_ids = [(pid, float(score or 0.0)) for pid, score in session.execute(stmt)]
    except DBAPIError as exc:
        msg = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if "fts5" in msg or "syntax" in msg or "tsquery" in msg:
            raise InputError(f"search: cannot understand the query {query[:80]!r}: {msg}") from None
        raise
    return _hits(session, ranked_ids, q)


def _hits(session: Session, ranked: list[tuple[int, float]], q: Query) -> list[Hit]:
    if not ranked:
        return []
    from listener.store.queries import tags_by_post

    ids = [pid for pid, _ in ranked]
    posts = {r.id: r for r in session.scalars(select(Post).where(Post.id.in_(ids)))}
    tags = tags_by_post(session, ids)
    out = []
    for pid, score in ranked:
        post, ts = posts[pid], tags[pid]
        munis = [t for t in ts if t.kind == "municipality"]
        out.append(Hit(
            id=pid, date=local_date(post.created_at or post.collected_at), platform=post.platform,
            municipalities=", ".join(dict.fromkeys(t.label or t.tag for t in munis)),
            places=", ".join(dict.fromkeys(t.place for t in munis if t.place)),
            themes=", ".join(dict.fromkeys(t.tag for t in ts if t.kind == "theme")),
            signals=", ".join(dict.fromkeys(t.tag for t in ts if t.kind == "signal")),
            snippet=snippet(post.text, q), url=post.url or "", score=score,
        ))
    return out


def filters_for_audit(query: str, **filters: Iterable[Any] | Any) -> dict[str, Any]:
    """The audit entry's filters: the query and every option given (never post text)."""
    out: dict[str, Any] = {"query": query}
    for k, v in filters.items():
        out[k] = list(v) if isinstance(v, (list, tuple, set)) else (v.isoformat() if isinstance(v, datetime) else v)
    return out
