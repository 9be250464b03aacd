"""The lab's nodes as the tests see them: the pids `make lab-up` records, and commands run inside
a node's namespaces (nsenter into its anchor process), as an operator on that node would run them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

LAB_STATE = Path("/var/lib/dvr-lab")


def lab_pid(name: str) -> int:
    """The pid lab-up recorded as pids/<name>.pid (e.g. node-2-anchor)."""
    return int((LAB_STATE / "pids" / f"{name}.pid").read_text().split()[0])


def recorded(suffix: str) -> dict[str, int]:
    """{node: pid} of the lab processes recorded as pids/<node>-<suffix>.pid."""
    return {
        f.name[: -len(f"-{suffix}.pid")]: int(f.read_text().split()[0])
        for f in sorted(LAB_STATE.glob(f"pids/*-{suffix}.pid"))
    }


def in_node(node: str, *argv: str, timeout: float = 30) -> str:
    """stdout of argv run in node's mount, network and UTS namespaces (raises on failure)."""
    return subprocess.run(
        ["nsenter", "-t", str(lab_pid(f"{node}-anchor")), "-m", "-n", "-u", "--", *argv],
        capture_output=True, text=True, check=True, timeout=timeout,
    ).stdout  # fmt: skip
