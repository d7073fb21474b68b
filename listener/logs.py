"""Logging set-up for the CLI: readable on a terminal, one JSON object a line for collectors."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

# Never let a credential reach a log line, whatever a library prints.
_SECRET = re.compile(
    r"(?i)(bearer\s+|authorization[\"']?\s*[:=]\s*[\"']?|(?:token|secret|password|app_password|client_secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
)


def redact(text: str) -> str:
    """``text`` without tokens, passwords or ``user:password@`` in URLs."""
    from listener.privacy import mask_url_credentials

    return mask_url_credentials(_SECRET.sub(lambda m: m.group(1) + "***", text))


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("source_id", "n_posts", "elapsed_s", "run_id"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


def configure_logging(fmt: str = "text", verbose: int = 0) -> None:
    """Configure the root logger once for the CLI."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_listener", False):
            root.removeHandler(h)
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactFilter())
    handler._listener = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Chatty libraries stay quiet unless asked for debug output.
    for name in ("httpx", "httpcore", "urllib3", "prawcore", "tweepy", "alembic", "atproto", "mastodon"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)
