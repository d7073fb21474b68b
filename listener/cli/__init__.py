"""The ``listener`` command line: thin wrappers that parse, call one library function and
map ``ListenerError`` to one stderr line and an exit code (see ``listener.errors``).

Each command group lives in its own module under ``listener/cli/`` and is registered below.
"""

from __future__ import annotations

from listener.cli.app import main  # noqa: F401  (console-script entry point)
