"""One module per ``fer-kit`` command group (see :mod:`fer_kit.cli`)."""
