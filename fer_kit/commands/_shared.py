"""Small helpers every command module uses."""

from __future__ import annotations

import json
import sys


def print_json(obj: object) -> None:
    """One JSON object on stdout (logs go to stderr), as every ``--json`` flag promises."""
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()
