"""A requests adapter for the client libraries built on requests (tweepy, praw, Mastodon.py).

It gives every request our timeout (tweepy sets none) and can send a library's hard-wired API
host to another base URL: a proxy, a compatible server, or the local server of the tests.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter


class BaseUrlAdapter(HTTPAdapter):
    """Applies a default timeout and rewrites ``prefix`` to ``base`` in request URLs."""

    def __init__(self, timeout_s: float, prefix: str | None = None, base: str | None = None) -> None:
        super().__init__(max_retries=0)
        self.timeout_s = timeout_s
        self.prefix = prefix.rstrip("/") if prefix else None
        self.base = base.rstrip("/") if base else None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        if self.prefix and self.base and request.url and request.url.startswith(self.prefix):
            request.url = self.base + request.url[len(self.prefix):]
        return super().send(request, **kwargs)


def session_for(timeout_s: float, user_agent: str | None = None, rebase: dict[str, str] | None = None) -> requests.Session:
    """A requests session with our timeout, User-Agent and optional host rewrites."""
    s = requests.Session()
    if user_agent:
        s.headers["User-Agent"] = user_agent
    default = BaseUrlAdapter(timeout_s)
    s.mount("https://", default)
    s.mount("http://", default)
    for prefix, base in (rebase or {}).items():
        s.mount(prefix, BaseUrlAdapter(timeout_s, prefix, base))
    return s
