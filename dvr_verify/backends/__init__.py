"""VM backends: how a run's VMs are made on their hosts, waited for and removed.

`BACKENDS` maps a backend's name (`dvr_verify_backend`, `dvr-verify ... --backend`) to its class,
a `VMBackend` (base.py: the interface and when provision.py calls each step):

- `lab` (lab.py): ports bound to their hosts, plugged by the lab's Ansible role; no Nova.
- `nova` (nova.py): a Nova server per VM, pinned to its host, with the run's keypair.

To add a backend: a class in dvr_verify/backends/<name>.py implementing `VMBackend`, an entry
here, and the Ansible role's task files for what happens outside Python
(roles/dvr_verify/tasks/backend_<name>_*.yml).
"""

from __future__ import annotations

from typing import Any

from dvr_verify.backends.base import PreflightError, VMBackend
from dvr_verify.backends.lab import LabBackend
from dvr_verify.backends.nova import NovaBackend

BACKENDS: dict[str, type[VMBackend]] = {"lab": LabBackend, "nova": NovaBackend}


def get_backend(name: str, **options: Any) -> VMBackend:
    """The backend `name`, made with `options` (nova: `spec=NovaSpec(...)` to make VMs)."""
    try:
        cls = BACKENDS[name]
    except KeyError:
        known = ", ".join(BACKENDS)
        raise PreflightError(f"no VM backend {name!r}: use one of {known}") from None
    return cls(**options)


def every_backend() -> list[VMBackend]:
    """One of each backend, for what asks them all (waiting, cleanup by tag)."""
    return [cls() for cls in BACKENDS.values()]
