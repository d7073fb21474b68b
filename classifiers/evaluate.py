"""Scores of the classifier (and the baselines) on labelled JSONL in the format of dev_posts.jsonl."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from classifiers.data import SIGNALS, THEMES
from listener.errors import InputError

LABEL_FIELDS = ("themes", "signals", "municipalities", "regions")


@dataclass(frozen=True, slots=True)
class PRF:
    """Precision, recall, F1 and the counts behind them."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else (1.0 if not self.fn else 0.0)

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(slots=True)
class Report:
    """All scores of one system on one labelled set."""

    name: str
    per_tag: dict[str, PRF] = field(default_factory=dict)
    municipalities: PRF = PRF(0, 0, 0)
    regions: PRF = PRF(0, 0, 0)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def micro(self, tags: Iterable[str]) -> PRF:
        """Micro-averaged counts over the given tags."""
        ps = [self.per_tag[t] for t in tags]
        return PRF(sum(p.tp for p in ps), sum(p.fp for p in ps), sum(p.fn for p in ps))

    def macro_f1(self, tags: Iterable[str]) -> float:
        """Unweighted mean F1 over the given tags."""
        tags = list(tags)
        return sum(self.per_tag[t].f1 for t in tags) / len(tags)

    def summary(self) -> dict[str, float]:
        """The headline figures as a flat dict (rounded to 3 decimals)."""
        out = {
            "theme_macro_f1": self.macro_f1(THEMES),
            "theme_micro_f1": self.micro(THEMES).f1,
            "signal_micro_f1": self.micro(SIGNALS).f1,
            "signal_macro_f1": self.macro_f1(SIGNALS),
            "municipality_precision": self.municipalities.precision,
            "municipality_recall": self.municipalities.recall,
            "municipality_f1": self.municipalities.f1,
            "region_f1": self.regions.f1,
        }
        return {k: round(v, 3) for k, v in out.items()}


def jsonl_records(lines: Iterable[str], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of each non-blank JSONL line with a 'text' string; InputError names the
    file and line of the first bad one. Shared by `listener evaluate` and `listener classify`."""
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}:{n}: not valid JSON ({exc.msg})") from exc
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            raise InputError(f"{name}:{n}: each line needs a JSON object with a 'text' string")
        yield n, rec


def load_labelled(path: Path | str) -> list[dict[str, Any]]:
    """Read labelled JSONL; InputError names the file and line of a bad record."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    records = []
    for n, rec in jsonl_records(lines, str(path)):
        for f in LABEL_FIELDS:
            if not isinstance(rec.get(f, []), list):
                raise InputError(f"{path}:{n}: field '{f}' must be a list")
        records.append(rec)
    return records


def score(name: str, records: list[dict[str, Any]], predicted: list[dict[str, list[str]]]) -> Report:
    """Compare predicted labels (themes, signals, municipality names, regions) with the gold ones."""
    counts = {t: [0, 0, 0] for t in THEMES + SIGNALS}
    muni = [0, 0, 0]
    reg = [0, 0, 0]
    report = Report(name)
    for rec, pred in zip(records, predicted):
        for t in THEMES + SIGNALS:
            field_name = "themes" if t in THEMES else "signals"
            g, p = t in rec.get(field_name, []), t in pred[field_name]
            counts[t][0] += g and p
            counts[t][1] += p and not g
            counts[t][2] += g and not p
        for f, c in (("municipalities", muni), ("regions", reg)):
            g, p = set(rec.get(f, [])), set(pred[f])
            c[0] += len(g & p)
            c[1] += len(p - g)
            c[2] += len(g - p)
        if any(set(rec.get(f, [])) != set(pred[f]) for f in LABEL_FIELDS):
            report.errors.append(_error(rec, pred))
    report.per_tag = {t: PRF(*c) for t, c in counts.items()}
    report.municipalities = PRF(*muni)
    report.regions = PRF(*reg)
    return report


def _error(rec: dict[str, Any], pred: dict[str, list[str]]) -> dict[str, Any]:
    diffs = []
    for f in LABEL_FIELDS:
        g, p = set(rec.get(f, [])), set(pred[f])
        if g - p:
            diffs.append(f"{f} missed: {', '.join(sorted(g - p))}")
        if p - g:
            diffs.append(f"{f} extra: {', '.join(sorted(p - g))}")
    out = {k: rec[k] for k in ("id", "platform") if k in rec}
    out["text"] = rec["text"]
    out.update({f: list(pred[f]) for f in LABEL_FIELDS})
    out["expected"] = {f: list(rec.get(f, [])) for f in LABEL_FIELDS}
    out["note"] = "; ".join(diffs)
    return out


def predict_classifier(classifier, texts: list[str]) -> list[dict[str, list[str]]]:
    """Labels (municipalities as official names) from the real classifier."""
    out = []
    for c in classifier.classify_many(texts):
        out.append({"themes": list(c.themes), "signals": list(c.signals),
                    "municipalities": [m.name for m in c.municipalities], "regions": list(c.regions)})
    return out


def evaluate(path: Path | str, classifier=None, baselines: bool = False) -> list[Report]:
    """Reports for the classifier and, if asked, the two baselines (same labelled file)."""
    from classifiers import Classifier

    records = load_labelled(path)
    texts = [r["text"] for r in records]
    classifier = classifier or Classifier()
    reports = [score("classifier", records, predict_classifier(classifier, texts))]
    if baselines:
        from classifiers.baselines import gazetteer_baseline, keyword_baseline

        systems: list[tuple[str, Callable[[str], dict[str, list[str]]]]] = [
            ("baseline", _combine(keyword_baseline(), gazetteer_baseline(classifier.gazetteer))),
        ]
        for name, fn in systems:
            reports.append(score(name, records, [fn(t) for t in texts]))
    return reports


def _combine(kw, gz) -> Callable[[str], dict[str, list[str]]]:
    def run(text: str) -> dict[str, list[str]]:
        out = kw(text)
        out.update(gz(text))
        return out

    return run
