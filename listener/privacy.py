"""Pseudonymisation and minimisation (AVG/GDPR): keyed author hashes and masked personal data."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from pathlib import Path

from listener.errors import ConfigError

log = logging.getLogger(__name__)

KEY_ENV = "LISTENER_PSEUDONYM_KEY"
KEY_FILE_ENV = "LISTENER_PSEUDONYM_KEY_FILE"
DEFAULT_KEY_FILE = ".listener_pseudonym_key"

_lock = threading.Lock()
_cached: dict[str, bytes] = {}


def key_file_path() -> Path:
    return Path(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE)


def pseudonym_key() -> bytes:
    """The deployment secret: LISTENER_PSEUDONYM_KEY, or a key file made (0600) on first use."""
    env = os.environ.get(KEY_ENV)
    if env:
        if len(env) < 16:
            raise ConfigError(f"{KEY_ENV}: too short; use at least 16 random characters")
        return env.encode("utf-8")
    path = key_file_path()
    cache_key = str(path.resolve())
    with _lock:
        if cache_key in _cached:
            return _cached[cache_key]
        if path.exists():
            key = path.read_text(encoding="ascii").strip().encode("ascii")
            if len(key) < 32:
                raise ConfigError(f"{path}: pseudonym key file is damaged (too short)")
        else:
            key = secrets.token_hex(32).encode("ascii")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(key.decode("ascii") + "\n")
            log.warning("generated a new pseudonym key in %s (mode 0600); keep it secret and back it up, "
                        "or set %s", path, KEY_ENV)
        _cached[cache_key] = key
        return key


def author_key(platform: str, handle: str | int | None) -> str | None:
    """HMAC-SHA256 of platform and handle under the deployment key: same author, same key."""
    if handle is None or str(handle).strip() == "":
        return None
    msg = f"{platform.lower()}:{str(handle).strip().lstrip('@').lower()}".encode("utf-8")
    return hmac.new(pseudonym_key(), msg, hashlib.sha256).hexdigest()[:32]


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+", re.UNICODE)
_MENTION = re.compile(r"(?<![\w@/.])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,48}[A-Za-z0-9_])?)(?:@[\w-]+(?:\.[\w-]+)+)?")
# Dutch phone numbers: 06-12345678, 0612345678, +31 6 1234 5678, 050-1234567, 0900-8844 service numbers kept.
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)31[\s.-]?(?:\(0\))?[\s.-]?|0)(?!800|900|90\d)[1-9](?:[\s.-]?\d){8}(?!\d)"
)


def mask_text(text: str, public_accounts: frozenset[str] | set[str] = frozenset()) -> str:
    """Mask e-mail addresses, phone numbers and @mentions of persons (public accounts kept)."""
    if not text:
        return text

    def mention(m: re.Match[str]) -> str:
        return m.group(0) if m.group(1).lower() in public_accounts else "@gebruiker"

    # Mentions first: a fediverse handle (@naam@server.nl) is a person, not an e-mail address.
    text = _MENTION.sub(mention, text)
    text = _EMAIL.sub("[e-mail]", text)
    return _PHONE.sub("[telefoon]", text)
