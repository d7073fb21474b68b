"""Dutch classifier of krimp-listener: themes, signals, municipalities and regions with evidence.

    >>> from classifiers import Classifier
    >>> Classifier().classify("De pinautomaat in Warffum verdwijnt").themes
    ('voorzieningen',)

The hot modules (``ACCELERATED``) may be compiled with Cython when the package is installed
(``hatch_build.py``); the ``.py`` files stay the only source. This file is never compiled: before
anything imports those modules it installs a guard that uses a compiled module only when it was built
from the ``.py`` file as it is now (``_compiled.json`` records the hashes), and otherwise the source.
``LISTENER_PURE_PYTHON=1`` forces the sources. ``compiled_modules()`` says what runs compiled.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path

__version__ = "0.1.0"
__all__ = ["SIGNALS", "THEMES", "Classification", "Classifier", "Evidence", "MunicipalityTag", "compiled_modules"]

# Compiled at install time when Cython and a C compiler are there (hatch_build.py reads this list).
ACCELERATED = (
    "classifiers.chunks",
    "classifiers.core",
    "classifiers.lexicon",
    "classifiers.components.anchored",
    "classifiers.components.place_linker",
    "classifiers.components.theme_matcher",
    "classifiers.components.view",
)

log = logging.getLogger(__name__)
_HERE = Path(__file__).resolve().parent


def _read_record() -> dict[str, str]:
    try:
        got = json.loads((_HERE / "_compiled.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


class _CompiledGuard(importlib.abc.MetaPathFinder):
    """Finds the ACCELERATED modules: the extension module when it was built from the current source,
    else the ``.py`` file (a stale extension would silently shadow an edit in an editable checkout)."""

    def __init__(self, record: dict[str, str], pure: bool) -> None:
        self.record = record
        self.pure = pure
        self.warned: set[str] = set()

    def locate(self, fullname: str, path=None) -> tuple[Path | None, Path | None]:
        """(source, extension to use or None) of one of the ACCELERATED modules; logs a stale one."""
        stem = fullname.rpartition(".")[2]
        dirs = [Path(p) for p in path] if path else [_HERE.joinpath(*fullname.split(".")[1:-1])]
        for d in dirs:
            source = d / f"{stem}.py"
            if source.is_file():
                break
        else:
            return None, None
        ext = next((d / (stem + s) for s in importlib.machinery.EXTENSION_SUFFIXES if (d / (stem + s)).is_file()),
                   None)
        if ext is None or self.pure:
            return source, None
        recorded = self.record.get(fullname)
        if recorded is None or recorded != hashlib.sha256(source.read_bytes()).hexdigest():
            if fullname not in self.warned:
                self.warned.add(fullname)
                log.warning("%s changed since it was compiled; using the Python source "
                            "(re-install to recompile: make venv / pip install -e .)",
                            fullname.replace(".", "/") + ".py")
            return source, None
        return source, ext

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname not in ACCELERATED:
            return None
        source, ext = self.locate(fullname, path)
        if source is None:
            return None  # not ours to find (e.g. an odd layout): the ordinary finders decide
        if ext is not None:
            return importlib.util.spec_from_file_location(
                fullname, ext, loader=importlib.machinery.ExtensionFileLoader(fullname, str(ext)))
        return importlib.util.spec_from_file_location(
            fullname, source, loader=importlib.machinery.SourceFileLoader(fullname, str(source)))


def _install_guard() -> _CompiledGuard:
    # one guard per process, even if this package is imported again from another place
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != _CompiledGuard.__name__]
    guard = _CompiledGuard(_read_record(), os.environ.get("LISTENER_PURE_PYTHON", "") not in ("", "0"))
    sys.meta_path.insert(0, guard)
    return guard


_GUARD = _install_guard()


def compiled_modules() -> list[str]:
    """Names of the modules that run compiled: loaded from an extension module, or (not imported yet)
    going to be. Empty when the package runs as pure Python.

        >>> compiled_modules()  # doctest: +SKIP
        ['classifiers.chunks', 'classifiers.core', ...]
    """
    out = []
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for name in ACCELERATED:
        mod = sys.modules.get(name)
        if mod is not None:
            if str(getattr(mod, "__file__", "") or "").endswith(suffixes):
                out.append(name)
        elif not _GUARD.pure and name in _GUARD.record:
            package = sys.modules.get(name.rpartition(".")[0])
            _, ext = _GUARD.locate(name, getattr(package, "__path__", None))
            if ext is not None:
                out.append(name)
    return out


from classifiers.core import Classification, Classifier, Evidence, MunicipalityTag
from classifiers.data import SIGNALS, THEMES
