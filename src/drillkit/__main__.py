"""``python -m drillkit`` is the ``drillkit`` command."""

from drillkit.cli import main

main()
