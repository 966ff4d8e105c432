"""The ``drillkit`` command: :mod:`~drillkit.cli.main` holds the app and the small commands;
:mod:`~drillkit.cli.run`, :mod:`~drillkit.cli.evidence` and :mod:`~drillkit.cli.history` the
larger ones. Everything here is thin: it parses, calls the library and maps errors to exit codes.
"""

from __future__ import annotations

from drillkit.cli.main import app, main

__all__ = ["app", "main"]
