"""Language of a short post: Dutch, Frisian, English, German or French, from function words.

Statistical detectors confuse Dutch and Frisian (and need models we cannot download); short
posts are dominated by function words, which separate these five languages well. Returns
None when the text gives too little to go on, so an uncertain post is kept, not dropped.
"""

from __future__ import annotations

import re

_WORDS = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
_WORDS_ASCII = re.compile(r"[a-z]+(?:'[a-z]+)?")  # _WORDS in lower-cased ASCII text, faster

_STOP: dict[str, frozenset[str]] = {
    "nl": frozenset("""
        de het een en van ik je jij u is dat niet op met voor zijn er maar ook als bij nog naar wat om
        dan geen wel al ze we wij hij zij hun deze dit die wordt worden heeft hebben kan moet gaat door
        uit over tot meer nu onze ons mijn mij me zich zo heel hier daar waar wie hoe omdat want toch
        even gewoon echt weer veel nieuwe nieuw wordt was waren werd zou zullen kunnen moeten gaan
        komt komen dorp dorpen gemeente school straks jaar mensen ook nog niks iets iemand iedereen
        sluit sluiten gaat wordt tussen onder zonder tegen alleen samen""".split()),
    "fy": frozenset("""
        it fan yn ik bin binne hawwe ha hie wie wiene net hjir dêr wêr mei foar ús jo wy se sil
        silst kinne kin moatte moat giet gean der oer ek mar noch no doe gjin wat hoe wol my dy
        him har harren ien twa tige goed nij nije âld âlde bern skoalle doarp doarpen doarpshûs
        mienskip hûs hûzen jier minsken neat eat wurdt wurde wurden waard soe sille hat hast
        dizze dit dat dy hja sy ús úsfolk tsjin sûnder allinne tegearre hiel hiele gewoan
        echt wer folle dêrom omdat want dochs al en op om is as by nei dan""".split()),
    "en": frozenset("""
        the and of to is in that it for with on are was this be have has had not but they you we
        he she his her their our from by at an or as will would can could should there what which
        who when where how all more about just like get got been were also than then them these
        those into out up""".split()),
    "de": frozenset("""
        der die das und nicht ist ich ein eine einen mit auf für sich den dem des auch es wir sind
        wird von zu im ist war sie er aber noch nach bei aus wie oder wenn nur kein keine schon
        sehr gibt haben hat werden wurde unser unsere jetzt hier dort""".split()),
    "fr": frozenset("""
        le la les un une des et est dans que qui pour pas sur au aux du avec ce cette sont il elle
        nous vous ils ont été mais ou où plus par se sa son ses leur très""".split()),
}
# Words that occur in several of these languages add nothing.
_SHARED = frozenset(w for w in _STOP["nl"] if any(w in _STOP[k] for k in ("fy", "en", "de")))
# Frisian spellings that Dutch never uses.
_FY_MARK = re.compile(r"[âêûôú]|\b(?:ik bin|it is|fan 'e|yn 'e|net|hjir|gjin|ús|tsjin|mienskip|doarp\w*|skoalle)\b", re.IGNORECASE)
# _FY_MARK for lower-cased ASCII text, where neither [âêûôú] nor "ús" can occur and IGNORECASE
# (slow in `re`) changes nothing: the same matches, 3-4 times faster.
_FY_MARK_ASCII = re.compile(r"\b(?:ik bin|it is|fan 'e|yn 'e|net|hjir|gjin|tsjin|mienskip|doarp\w*|skoalle)\b")
_LANGS = tuple(_STOP)
# Per stop word, what it adds to each language's score: (index in _LANGS, 0.5 or 1.0), ...
_WEIGHTS: dict[str, tuple[tuple[int, float], ...]] = {
    w: tuple((i, 0.5 if w in _SHARED else 1.0) for i, lang in enumerate(_LANGS) if w in _STOP[lang])
    for w in sorted(frozenset().union(*_STOP.values()))
}
# The only characters whose lower case is longer (U+0130) or depends on the next characters
# (U+03A3, final sigma); without them, the words of text.lower() are the lower-cased words of text.
_LOWER_CONTEXT = ("\u0130", "\u03a3")


def detect(text: str) -> str | None:
    """ISO 639-1 code of the most likely language, or None when too few words decide."""
    if text.isascii():
        lower = text.lower()
        words = _WORDS_ASCII.findall(lower)
        if not words:
            return None
        fy_marks = len(_FY_MARK_ASCII.findall(lower))
    else:
        if _LOWER_CONTEXT[0] in text or _LOWER_CONTEXT[1] in text:
            words = [w.lower() for w in _WORDS.findall(text)]
        else:
            words = _WORDS.findall(text.lower())
        if not words:
            return None
        fy_marks = len(_FY_MARK.findall(text))
    # Every weight is 0.5 or 1.0, so the sums are exact whatever their order.
    totals = [0.0] * len(_LANGS)
    for w in filter(_WEIGHTS.__contains__, words):
        for i, v in _WEIGHTS[w]:
            totals[i] += v
    scores = dict(zip(_LANGS, totals))
    scores["fy"] += 1.5 * fy_marks
    best = max(scores, key=scores.get)  # type: ignore[arg-type]
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] < 2 or ranked[0] < 0.08 * len(words):
        return None
    if ranked[0] - ranked[1] < 1 and best != "nl" and scores["nl"] == ranked[1]:
        return "nl"  # a tie with Dutch is Dutch: Dutch posts dominate our sources
    return best


def keep(language: str | None, wanted: list[str] | tuple[str, ...]) -> bool:
    """Whether a source that keeps ``wanted`` languages keeps a post in ``language``."""
    return not wanted or language is None or language in wanted
