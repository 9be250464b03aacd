"""The VM backend interface: the few steps that differ between ways of making a run's VMs.

provision.py makes everything Neutron (network, subnet, router, security group, a port per VM,
floating IPs, tags) and asks the run's backend, in this order: `preflight` (can the cloud host the
VMs), `prepare` (once, before the first port), `port_args` and `make_vm` (per VM, around its port),
`pending` (while waiting for ACTIVE) and `cleanup` (before the Neutron resources are deleted).

`pending`, `cleanup` and `traces` (what the sweep of abandoned runs groups by run, runs.py) are
asked of every registered backend, not only the run's: a cleanup by tag does not know which
backend made a run. Each recognises its own resources (nova: VMs with a server id, servers whose
metadata carries the tag) and has nothing to do otherwise, so a backend class must also be
constructible without arguments.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from dvr_verify.provision import PlannedVM, Provisioned, ProvisionedVM

TAG = "dvr-verify"
"""The tag of every run's Neutron resources (and the metadata key of its Nova servers)."""

Sleep = Callable[[float], None]


def run_tag(run_id: str) -> str:
    """The tag of one run's resources."""
    return f"{TAG}-run-{run_id}"


def run_id_of(tag: str) -> str | None:
    """The run id in a run's tag; None for the tag of all runs (TAG)."""
    prefix = run_tag("")
    return tag[len(prefix) :] if tag.startswith(prefix) else None


KEEP_TAG = f"{TAG}-keep"
"""On every Neutron resource of a run kept on purpose (`dvr_verify_keep`): never abandoned."""

HEARTBEAT_PREFIX = f"{TAG}-heartbeat-"
"""The heartbeat tag on a run's network: this prefix + Unix seconds (dvr_verify/runs.py)."""


def heartbeat_tag(now: float) -> str:
    """The heartbeat tag for the time `now` (Unix seconds)."""
    return f"{HEARTBEAT_PREFIX}{int(now)}"


def heartbeat_of(tag: str) -> float | None:
    """The time in a heartbeat tag; None for any other tag."""
    if not tag.startswith(HEARTBEAT_PREFIX):
        return None
    try:
        return float(int(tag[len(HEARTBEAT_PREFIX) :]))
    except ValueError:
        return None


def unix_seconds(stamp: str | None) -> float | None:
    """An API timestamp (ISO 8601, `Z` or naive = UTC) in Unix seconds; None if unreadable."""
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class RunTrace:
    """One resource of a run as the sweep sees it: whose it is and its signs of life."""

    run_id: str | None
    """None: tagged dvr-verify but of no run."""
    label: str
    """'<kind> <name>', as cleanup prints it."""
    created: float | None = None
    heartbeat: float | None = None
    kept: bool = False

    @classmethod
    def of_tags(cls, label: str, tags: Iterable[str], created_at: str | None) -> RunTrace:
        """The trace of a Neutron resource from its tags and creation time."""
        tags = list(tags or ())
        ids = [run_id_of(t) for t in tags]
        beats = [b for b in map(heartbeat_of, tags) if b is not None]
        return cls(
            run_id=next((i for i in ids if i), None),
            label=label,
            created=unix_seconds(created_at),
            heartbeat=max(beats, default=None),
            kept=KEEP_TAG in tags,
        )


class PreflightError(Exception):
    """The cloud cannot run this verification: one line naming what to fix."""


class VMBackend(ABC):
    """How a run's VMs are made on their hosts, waited for and removed."""

    name: ClassVar[str]
    """The key in `BACKENDS`, recorded as the run's `backend`."""
    dhcp: ClassVar[bool]
    """Whether the VMs take their address by DHCP (the run's subnet enables it)."""
    min_active_timeout: ClassVar[int] = 0
    """Seconds the ACTIVE wait lasts at least, whatever dvr_verify_active_timeout says."""

    @abstractmethod
    def preflight(
        self, conn: Any, hosts: Sequence[str], image: str = "", flavor: str = ""
    ) -> dict[str, Any]:
        """Check the cloud can host VMs on `hosts`; the backend's part of preflight's result
        (`backend` and what provisioning needs). Raises PreflightError."""

    @abstractmethod
    def prepare(self, conn: Any, run: Provisioned) -> None:
        """Make what every VM of `run` needs, before the first port (recorded in `run`)."""

    @abstractmethod
    def port_args(self, vm: PlannedVM) -> dict[str, Any]:
        """The create_port arguments that say who uses `vm`'s port: `device_id` at least."""

    @abstractmethod
    def make_vm(self, conn: Any, run: Provisioned, vm: ProvisionedVM) -> str | None:
        """Make `vm` on its port `vm.port_id`: its server id, or None when the VM is made later
        (outside Python)."""

    @abstractmethod
    def pending(self, conn: Any, run: Provisioned) -> list[str]:
        """What of this backend's VMs in `run` is not ready yet, one item each; raises
        PreflightError when a VM failed for good."""

    @abstractmethod
    def cleanup(self, conn: Any, tag: str, *, timeout: float, sleep: Sleep) -> list[str]:
        """Delete this backend's resources of the runs `tag` names (a run's tag, or TAG for all),
        waiting at most `timeout` until they are gone; what was deleted, one line each."""

    def traces(self, conn: Any) -> list[RunTrace]:
        """This backend's resources of every run, for the sweep of abandoned runs (none unless
        the backend makes some in the cloud)."""
        return []
