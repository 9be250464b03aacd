"""The role's options (roles/dvr_verify/defaults/main.yml), each checked for type and range
before a run makes anything: one line naming the variable, what it takes and what it got.

`-e name=value` gives strings: "3" is a whole number, and "true"/"false" (yes/no, on/off, 1/0, any
case) a flag, as Ansible's `bool` filter reads them. The probe modules' own bounds are checked here
too, so that a bad bound is found before provisioning, not in the probe phase.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from dvr_verify.runs import MIN_ABANDON_AFTER

PREFIX = "dvr_verify_"
TRUE, FALSE = frozenset({"yes", "on", "true", "1"}), frozenset({"no", "off", "false", "0"})

Check = Callable[[Any], str | None]
"""None when the value is fine, else what the option takes."""


class OptionError(ValueError):
    """An option has a wrong type or value: one line naming the Ansible variable."""


def to_bool(value: Any) -> bool | None:
    """Ansible's `bool` filter without its deprecated fallback: None when not a flag."""
    text = str(value).lower() if isinstance(value, str | int) else value
    return True if text in TRUE else False if text in FALSE else None


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    """`value` as an int or float (a string of one too), or None (a flag is not a number)."""
    if isinstance(value, bool):
        return None
    try:
        return kind(str(value).strip())
    except ValueError:
        return None


def whole(low: int, high: int | None = None) -> Check:
    """A whole number in [low, high]."""
    want = (
        f"a whole number from {low} to {high}" if high is not None else f"a whole number >= {low}"
    )
    return lambda v: (
        None
        if (n := _number(v, int)) is not None and n >= low and (high is None or n <= high)
        else want
    )


def number(low: float, high: float) -> Check:
    """A number (seconds) in [low, high]."""
    return lambda v: (
        None
        if (n := _number(v, float)) is not None and low <= n <= high
        else f"a number from {low} to {high}"
    )


def flag(value: Any) -> str | None:
    return None if to_bool(value) is not None else "true or false"


def choice(*values: str) -> Check:
    want = f"one of {', '.join(values)}"
    return lambda v: None if v in values else want


def text(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def name(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "a non-empty string"


def absolute(value: Any) -> str | None:
    return None if isinstance(value, str) and value.startswith("/") else "an absolute path"


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def address(value: Any) -> str | None:
    return None if value == "" or _is_ip(value) else "an IP address (or empty)"


def names(value: Any) -> str | None:
    ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    return None if ok else "a list of names"


def addresses(value: Any) -> str | None:
    ok = isinstance(value, list) and all(_is_ip(v) for v in value)
    return None if ok else "a list of IP addresses"


# Every option of defaults/main.yml (without the prefix) and what it takes; dvr_verify_strict is
# checked when the role has it. The bounds of the probes are those of library/dvr_edge_probe.py,
# dvr_traceroute.py (module_utils/dvr_probe_common.LIMITS).
OPTIONS: dict[str, Check] = {
    "cloud": name,
    "backend": choice("auto", "lab", "nova"),
    "image": text,
    "flavor": text,
    "availability_zone": name,
    "vm_user": name,
    "vm_access": choice("auto", "netns", "ssh"),
    "vm_ssh_path": choice("qrouter", "fip"),
    "ssh_timeout": whole(1),
    "ha": flag,
    "unbound_fips": whole(0),
    "keep": flag,
    "abandon_after": whole(MIN_ABANDON_AFTER),
    "cleanup_confirm": flag,
    "external_network": text,
    "vms_per_compute": whole(1),
    "compute_group": name,
    "node_groups": names,
    "probe_group": name,
    "trace_destinations": addresses,
    "active_timeout": whole(1),
    "workdir": name,
    "runs_dir": name,
    "keys_dir": absolute,
    "probe_required": flag,
    "probe_python": name,
    "probe_interface": name,
    "probe_address": address,
    "arp_timeout": number(0.1, 30.0),
    "ping_count": whole(1, 20),
    "capture_seconds": number(0.5, 600.0),
    "trace_max_hops": whole(1, 30),
    "tcp_port": whole(1, 65535),
    "namespaces": names,
    "strict": flag,
}


def _combination(values: Mapping[str, Any]) -> str | None:
    """Options valid one by one that do not go together."""
    if values.get("backend") == "nova" and values.get("vm_access") == "netns":
        return (
            f"{PREFIX}vm_access netns reaches lab VMs only, and {PREFIX}backend is nova:"
            f" set {PREFIX}vm_access to ssh or auto"
        )
    return None


def check_options(values: Mapping[str, Any]) -> None:
    """Raise OptionError for the first option (key without the prefix) with a bad value."""
    for key, check in OPTIONS.items():
        if key not in values:
            continue
        want = check(values[key])
        if want is not None:
            raise OptionError(f"{PREFIX}{key}: {want} (got {values[key]!r})")
    problem = _combination(values)
    if problem:
        raise OptionError(problem)
