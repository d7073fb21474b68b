"""Pseudonymisation and minimisation (AVG/GDPR): keyed author hashes and masked personal data.

See docs/privacy.md for what is masked, what is kept and why.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import threading
import unicodedata
from pathlib import Path
from typing import Callable

from listener.errors import ConfigError

log = logging.getLogger(__name__)

KEY_ENV = "LISTENER_PSEUDONYM_KEY"
KEY_FILE_ENV = "LISTENER_PSEUDONYM_KEY_FILE"
DEFAULT_KEY_FILE = ".listener_pseudonym_key"
MIN_ENV_KEY_CHARS = 16

_lock = threading.Lock()
_cached: dict[str, bytes] = {}


def key_file_path() -> Path:
    return Path(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE)


def _read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        key = path.read_text(encoding="ascii").strip().encode("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a key file"
        raise ConfigError(f"{path}: cannot read the pseudonym key file: {reason}") from None
    if len(key) < 32:
        raise ConfigError(f"{path}: pseudonym key file is damaged (too short)")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("pseudonym key file %s can be read by other users; run `chmod 600 %s`", path, path)
    return key


def _create_key_file(path: Path) -> bytes:
    key = secrets.token_hex(32).encode("ascii")
    # Written to a private temporary file and linked into place: a second process starting at
    # the same moment either wins the link or reads a complete key, never half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key.decode("ascii") + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key_file(path)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot create the pseudonym key file ({exc.strerror or exc}); set {KEY_ENV} "
            f"or {KEY_FILE_ENV} to a writable place"
        ) from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    log.warning("generated a new pseudonym key in %s (mode 0600); keep it secret and back it up, "
                "or set %s", path, KEY_ENV)
    return key


def pseudonym_key() -> bytes:
    """The deployment secret: LISTENER_PSEUDONYM_KEY, or a key file made (0600) on first use."""
    env = os.environ.get(KEY_ENV)
    if env is not None and env.strip():
        if len(env.strip()) < MIN_ENV_KEY_CHARS:
            raise ConfigError(f"{KEY_ENV}: too short; use at least {MIN_ENV_KEY_CHARS} random characters")
        return env.strip().encode("utf-8")
    path = key_file_path()
    cache_key = str(path.resolve())
    with _lock:
        if cache_key in _cached:
            return _cached[cache_key]
        key = _read_key_file(path) if path.exists() else _create_key_file(path)
        _cached[cache_key] = key
        return key


# Invisible characters someone could put in a handle to make "@jan" and "@j\u200ban" differ.
_INVISIBLE = re.compile(r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


def normalise_handle(handle: str | int) -> str:
    """The form of a handle that is hashed: NFKC, no invisible characters, no leading '@', case-folded."""
    h = str(handle)
    if not h.isascii():  # NFKC leaves ASCII as it is, and every invisible character is non-ASCII
        h = _INVISIBLE.sub("", unicodedata.normalize("NFKC", h))
    return h.strip().lstrip("@").strip().casefold()


def author_key(platform: str, handle: str | int | None) -> str | None:
    """HMAC-SHA256 of platform and handle under the deployment key: same author, same key.

    Example: ``author_key("mastodon", "@Jan@dorp.social") == author_key("mastodon", "jan@dorp.social")``
    """
    return _author_key(platform, handle, pseudonym_key)


def author_keyer() -> Callable[[str, str | int | None], str | None]:
    """``author_key`` that looks the deployment key up once, on first use: for one batch of posts.

    ``pseudonym_key()`` resolves the key file's path on every call (~20 µs), more than the hash.
    """
    key: list[bytes] = []

    def once() -> bytes:
        if not key:
            key.append(pseudonym_key())
        return key[0]

    return lambda platform, handle: _author_key(platform, handle, once)


def _author_key(platform: str, handle: str | int | None, key: Callable[[], bytes]) -> str | None:
    if handle is None:
        return None
    h = normalise_handle(handle)
    if not h:
        return None
    msg = f"{platform.strip().lower()}:{h}".encode("utf-8")
    return hmac.new(key(), msg, hashlib.sha256).hexdigest()[:32]


# Ids that are URIs naming their author: Mastodon (``https://server/users/jan/statuses/1``,
# ``https://server/@jan/1``), Bluesky (``at://did:plc:…/app.bsky.feed.post/…``), profile paths.
_ID_NAMES_AUTHOR = re.compile(r"(?i)/@|/users/|/u/|/user/|/profile/|did:[a-z0-9]+:")


def pseudonymous_id(platform: str, external_id: str) -> str:
    """``external_id`` as stored: unchanged, unless it names the author; then a keyed hash.

    The hash is stable within a deployment, so de-duplication still works.
    Example: ``pseudonymous_id("bluesky", "at://did:plc:abc/app.bsky.feed.post/3k")`` → ``"h:9f…"``
    """
    if not _ID_NAMES_AUTHOR.search(external_id):
        return external_id
    msg = f"id:{platform.strip().lower()}:{external_id}".encode("utf-8")
    return "h:" + hmac.new(pseudonym_key(), msg, hashlib.sha256).hexdigest()[:40]


# --- masking ---------------------------------------------------------------------------------

MASK_MENTION = "@gebruiker"
MASK_EMAIL = "[e-mail]"
MASK_PHONE = "[telefoon]"
MASK_IBAN = "[rekeningnummer]"

# Full-width forms (＠, ０-９, Ａ-Ｚ) and the small commercial at render like ASCII; matched as ASCII
# so that "＠jan" or "０６-１２３４５６７８" cannot slip past the masks.
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FOLD.update({0xFE6B: ord("@"), 0x3000: ord(" ")})

_URL = re.compile(r"(?i)\b(?:https?|ftp|wss?)://[^\s<>\"']+|\bwww\.[^\s<>\"']+")
# user:password@ or user@ in front of a host.
_URL_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]{1,15}://)[^/\s@?#]+@")
# Profile paths of persons: /@name (Mastodon, TikTok, YouTube, Medium), /u/name, /user/name (Reddit),
# /profile/name (Bluesky), and the first path segment on X, Instagram, Facebook, Threads.
_URL_AT_SEGMENT = re.compile(r"/@([^/\s?#@]+)(@[^/\s?#]+)?")
_URL_USER_PATH = re.compile(r"(?i)^(https?://(?:[a-z0-9-]+\.)*(?:reddit\.com|bsky\.app|linkedin\.com)/(?:u|user|profile|in)/)([^/\s?#]+)")
_PROFILE_HOSTS = re.compile(
    r"(?i)^(https?://(?:www\.|mobile\.|m\.)?(?:x\.com|twitter\.com|instagram\.com|facebook\.com|threads\.net)/)"
    r"(?!(?:i|home|search|hashtag|explore|p|reel|events|groups|pages|watch|share|intent|story\.php|permalink\.php)(?:[/?#]|$))"
    r"([^/\s?#]+)"
)

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+", re.UNICODE)
_AT_WORD = r"(?:\s*[\[({<]\s*(?:at|@|apenstaart(?:je)?)\s*[\])}>]\s*|\s+(?:at|apenstaartje)\s+)"
_DOT_WORD = r"(?:\s*[\[({<]\s*(?:dot|punt|\.)\s*[\])}>]\s*|\s+(?:dot|punt)\s+|\.)"
# "naam [at] dorp.nl", "naam (at) dorp (punt) nl", "naam at dorp dot nl": obfuscated addresses.
_EMAIL_OBFUSCATED = re.compile(
    rf"(?i)(?<![\w.+-])[\w.+-]{{1,64}}{_AT_WORD}[\w-]{{1,63}}(?:{_DOT_WORD}[\w-]{{1,63}})*{_DOT_WORD}"
    r"(?:nl|be|de|com|org|net|eu|info|frl|amsterdam|email|mail|online|nu|io|me|uk|fr)\b"
)
_MENTION = re.compile(r"(?<![\w@/.])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,48}[A-Za-z0-9_])?)(?:@[\w-]+(?:\.[\w-]+)+)?")
_REDDIT_USER = re.compile(r"(?<![\w/])(/?u/)([A-Za-z0-9_-]{3,20})\b")

# IBANs: two letters, two check digits, then letters/digits, in groups of four or not.
_IBAN = re.compile(r"(?i)(?<![\w])[a-z]{2}\d{2}(?:[a-z0-9]{11,30}|(?: [a-z0-9]{4}){2,7}(?: [a-z0-9]{1,4})?)(?![\w])")
# Lengths per country (SEPA and neighbours); a candidate must have exactly its country's length.
_IBAN_LENGTHS = {
    "NL": 18, "BE": 16, "DE": 22, "LU": 20, "FR": 27, "GB": 22, "IE": 22, "ES": 24, "PT": 25,
    "IT": 27, "AT": 20, "CH": 21, "DK": 18, "SE": 24, "NO": 15, "FI": 18, "PL": 28, "CZ": 24,
    "SK": 24, "HU": 28, "RO": 24, "BG": 22, "GR": 27, "HR": 21, "SI": 19, "EE": 20, "LV": 21,
    "LT": 20, "MT": 31, "CY": 28, "IS": 26, "LI": 21, "MC": 27, "TR": 26,
}
_SEP = r"(?:\s?[.\-/]\s?|\s)?"
# Dutch numbers: 06-12345678, 0612345678, +31 6 1234 5678, 0031 (0)50 123 4567, (050) 123 45 67.
# 0800/090x numbers belong to organisations and are kept; "06-12-2026 14:00" is a date and time.
_PHONE_NL = re.compile(
    r"(?<![\w+(])(?:(?:\+|00)\s?31\s?(?:\(0\)\s?)?[.\-]?\s?|\(0(?=\d{1,3}\))|0)(?!800|90\d)[1-9]"
    rf"(?:\)?{_SEP}\d){{8}}(?![\d:])"
)
# Other countries: + or 00, a country code, then 7-13 digits (9-15 digits in all).
_PHONE_INTL = re.compile(
    r"(?<![\w+])(?:\+|00)\s?(?!31)[1-9]\d{0,2}\s?(?:\(0\)\s?)?"
    rf"\(?\d(?:\)?{_SEP}\d){{6,12}}(?![\d:])"
)

# Cheap tests that must pass before an expensive pattern above can match (most posts have no
# address, number or link): each is implied by the pattern it guards, so skipping that pattern
# when its test fails changes nothing.
_DIGIT = re.compile(r"\d")  # _IBAN, _PHONE_NL, _PHONE_INTL
_URL_HINT = re.compile(r"(?i)://|www\.")  # _URL
# _EMAIL_OBFUSCATED: the start of either form of _AT_WORD.
_AT_WORD_HINT = re.compile(r"(?i)[\[({<]\s*(?:at|@|apenstaart)|\s(?:at|apenstaartje)\s")


def _iban_ok(compact: str) -> bool:
    s = compact.upper()
    if _IBAN_LENGTHS.get(s[:2]) != len(s) or not s[2:4].isdigit():
        return False
    digits = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return int(digits) % 97 == 1


def _mask_iban(m: re.Match[str]) -> str:
    s = m.group(0)
    # The match may run on into a following word ("BE68 5390 0754 7034 voor"): cut at a space.
    for end in range(len(s), 14, -1):
        if end < len(s) and s[end] != " ":
            continue
        if _iban_ok(s[:end].replace(" ", "")):
            return MASK_IBAN + _IBAN.sub(_mask_iban, s[end:])
    return s


def mask_url_credentials(text: str) -> str:
    """Hide ``user:password@`` in every URL of ``text`` (for messages and logs).

    Example: ``https://jan:geheim@example.nl/feed`` → ``https://***@example.nl/feed``
    """
    return _URL_USERINFO.sub(lambda m: m.group(1) + "***@", text) if "@" in text else text


def _mask_url(url: str, public: frozenset[str]) -> str:
    if "@" in url:
        url = _URL_USERINFO.sub(lambda m: m.group(1), url)

    def at_segment(m: re.Match[str]) -> str:
        name = m.group(1).lower()
        full = (m.group(1) + (m.group(2) or "")).lower()
        return m.group(0) if name in public or full in public else "/" + MASK_MENTION

    if "/@" in url:
        url = _URL_AT_SEGMENT.sub(at_segment, url)
    for pattern in (_URL_USER_PATH, _PROFILE_HOSTS):
        m = pattern.match(url)
        if m and m.group(2).lower().lstrip("@") not in public:
            url = m.group(1) + "gebruiker" + url[m.end():]
    return _EMAIL.sub(MASK_EMAIL, url) if "@" in url else url


def _mask_contacts(text: str) -> str:
    if "@" in text:
        text = _EMAIL.sub(MASK_EMAIL, text)
    if _AT_WORD_HINT.search(text):
        text = _EMAIL_OBFUSCATED.sub(MASK_EMAIL, text)
    if not _DIGIT.search(text):
        return text
    # IBANs before phone numbers: the ten digits of a Dutch account number look like a phone number.
    text = _IBAN.sub(_mask_iban, text)
    text = _PHONE_NL.sub(MASK_PHONE, text)
    if "+" not in text and "00" not in text:
        return text
    return _PHONE_INTL.sub(
        lambda m: MASK_PHONE if 9 <= sum(c.isdigit() for c in m.group(0)) <= 15 else m.group(0), text
    )


def _mask_plain(text: str, public: frozenset[str]) -> str:
    if not text:
        return text
    if "u/" in text:
        text = _REDDIT_USER.sub(lambda m: m.group(0) if m.group(2).lower() in public else m.group(1) + "gebruiker",
                                text)
    if "@" not in text:
        return _mask_contacts(text)
    # Mentions are cut out before the other masks run on the text between them: a fediverse
    # handle (@naam@server.nl) is a person, not an e-mail address, and a public one stays whole.
    out: list[str] = []
    pos = 0
    for m in _MENTION.finditer(text):
        out.append(_mask_contacts(text[pos:m.start()]))
        full = m.group(0)[1:].lower()
        out.append(m.group(0) if m.group(1).lower() in public or full in public else MASK_MENTION)
        pos = m.end()
    out.append(_mask_contacts(text[pos:]))
    return "".join(out)


def mask_text(text: str, public_accounts: frozenset[str] | set[str] = frozenset()) -> str:
    """Mask e-mail addresses, phone numbers, IBANs and @mentions of persons (public accounts kept).

    Example: ``mask_text("Mail jan@dorp.nl of bel 06-12345678")`` → ``"Mail [e-mail] of bel [telefoon]"``
    """
    if not text:
        return text
    public = frozenset(a.lower().lstrip("@") for a in public_accounts) if public_accounts else frozenset()
    if not text.isascii():  # every character _FOLD changes is non-ASCII
        text = text.translate(_FOLD)
    if not _URL_HINT.search(text):
        return _mask_plain(text, public)
    # URLs on their own: an "@" in a URL is a profile path or user info, not an e-mail address,
    # and the masks for plain text must not cut a URL in half.
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        out.append(_mask_plain(text[pos:m.start()], public))
        out.append(_mask_url(m.group(0), public))
        pos = m.end()
    out.append(_mask_plain(text[pos:], public))
    return "".join(out)
