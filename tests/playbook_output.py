"""The first failure of an ansible-playbook run (default callback), for tests of bad input."""

from __future__ import annotations

import json
import re

FATAL = re.compile(r"^(?:fatal|failed): \[[^\]]+\].*?FAILED! => (\{.*\})\s*$", re.MULTILINE)


def first_failure(stdout: str) -> str:
    """The `msg` of the first failed task ("" when none failed)."""
    match = FATAL.search(stdout)
    if not match:
        return ""
    try:
        return str(json.loads(match.group(1)).get("msg", match.group(1)))
    except json.JSONDecodeError:
        return match.group(1)
