"""Build hook: compile the classifier's hot modules with Cython, when it can (an optional accelerator).

The ``.py`` files stay the only source. The modules named by ``ACCELERATED`` in
``classifiers/__init__.py`` are cythonized and compiled into extension modules, in parallel; the
wheel gets them next to their ``.py`` files, and an editable install (``pip install -e .``) puts
them there in the source tree. ``classifiers/_compiled.json`` records the sha256 of each source, so
that ``classifiers/__init__.py`` can fall back to the source once it is edited.

Without Cython or a C compiler, or when a module fails to compile, the build still succeeds and the
package runs as pure Python (one line on stderr says why; ``pip install -v`` shows it).
``KRIMP_LISTENER_NO_COMPILE=1`` skips compiling.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "classifiers"
RECORD = "_compiled.json"
# annotation_typing off: annotations stay hints, as in Python (with it on, Cython enforces `-> dict`
# and `x: list` at run time, and spaCy hands lemma_table() a Table, not a dict). infer_types on: a
# local that only ever holds a len() or a range() index becomes a C integer (``for k in range(n)``
# is then a C loop and ``recs[k]`` a direct item read), a flag a C int; Cython converts back where a
# Python object is needed (a bool stays a bool). Same output on 180,901 texts.
DIRECTIVES = {"language_level": 3, "annotation_typing": False, "infer_types": True}


def accelerated() -> tuple[str, ...]:
    """The module names of ``ACCELERATED`` in classifiers/__init__.py (read, not imported)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ACCELERATED" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise RuntimeError("classifiers/__init__.py: ACCELERATED is missing")


def source_of(name: str) -> Path:
    return ROOT.joinpath(*name.split(".")).with_suffix(".py")


def _say(message: str) -> None:
    print(f"krimp-listener: {message}", file=sys.stderr, flush=True)


def generated_files() -> list[Path]:
    """The extension modules and the record that a build may have left in the source tree."""
    from importlib.machinery import EXTENSION_SUFFIXES

    out = [PACKAGE / RECORD]
    for name in accelerated():
        src = source_of(name)
        out += [src.with_name(src.stem + s) for s in EXTENSION_SUFFIXES]
    return [p for p in out if p.exists()]


def compile_modules(names: tuple[str, ...], build_root: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Cythonize and compile ``names``: ({name: built extension file}, {name: sha256 of its source})."""
    from Cython import __version__ as cython_version
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    jobs = max(1, min(len(names), os.cpu_count() or 1))
    hashes, exts = {}, []
    args = [] if sys.platform == "win32" else ["-O2", "-g0"]
    for name in names:
        src = source_of(name)
        hashes[name] = hashlib.sha256(src.read_bytes()).hexdigest()
        exts.append(Extension(name, [str(src.relative_to(ROOT))], extra_compile_args=args))
    # .c and extension files are kept per Python, Cython and directives: a rebuild redoes only what changed.
    # Cython and build_ext go by file times; a source put back with an old time must be rebuilt too.
    key = f"{sys.version} {sys.platform} {cython_version} {sorted(DIRECTIVES.items())} {args}"
    work = build_root / f"cython-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    made = work / "sources.json"
    try:
        before = json.loads(made.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    for name in names:
        if before.get(name) != hashes[name]:
            for old in (work / "c").glob(name.replace(".", "/") + ".*"):
                old.unlink()
            for old in (work / "lib").glob(name.replace(".", "/") + ".*"):
                old.unlink()
    cwd = os.getcwd()
    os.chdir(ROOT)  # Extension sources are relative: the module's C file keeps no absolute path
    try:
        modules = cythonize(exts, compiler_directives=DIRECTIVES, build_dir=str(work / "c"), nthreads=jobs,
                            quiet=True)
        dist = Distribution({"name": "krimp-listener-accelerator", "ext_modules": modules})
        cmd = build_ext(dist)
        cmd.build_lib = str(work / "lib")
        cmd.build_temp = str(work / "tmp")
        cmd.parallel = jobs
        cmd.ensure_finalized()
        cmd.run()
        built = {name: Path(cmd.build_lib) / cmd.get_ext_filename(name) for name in names}
    finally:
        os.chdir(cwd)
    missing = [n for n, p in built.items() if not p.is_file()]
    if missing:
        raise RuntimeError(f"not built: {', '.join(missing)}")
    made.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return built, hashes


class CustomBuildHook(BuildHookInterface):
    """Compiles the ACCELERATED modules into the wheel (standard) or next to their sources (editable)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        editable = version == "editable"
        if editable:  # nothing compiled now must stay behind from an earlier build
            for path in generated_files():
                path.unlink()
        if os.environ.get("KRIMP_LISTENER_NO_COMPILE", "") not in ("", "0"):
            _say("KRIMP_LISTENER_NO_COMPILE is set: not compiling; the classifier runs as pure Python")
            return
        names = accelerated()
        start = time.perf_counter()
        try:
            built, hashes = compile_modules(names, ROOT / "build")
        except ImportError as exc:
            _say(f"Cython or setuptools is missing ({exc}); the classifier runs as pure Python (slower)")
            return
        except Exception as exc:  # noqa: BLE001  (no C compiler, a compile error: the build goes on without)
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            _say(f"compiling the classifier failed ({type(exc).__name__}: {reason}); it runs as pure Python (slower)")
            return
        record = json.dumps(hashes, indent=1, sort_keys=True) + "\n"
        if editable:
            for name, path in built.items():
                shutil.copy2(path, source_of(name).with_name(path.name))
            (PACKAGE / RECORD).write_text(record, encoding="utf-8")
        else:
            for name, path in built.items():
                build_data["force_include"][str(path)] = "/".join(name.split(".")[:-1] + [path.name])
            kept = ROOT / "build" / RECORD
            kept.write_text(record, encoding="utf-8")
            build_data["force_include"][str(kept)] = f"classifiers/{RECORD}"
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
        _say(f"compiled {len(built)} classifier modules with Cython in {time.perf_counter() - start:.0f} s")
