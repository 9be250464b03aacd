"""Which runs are abandoned, and the sweep that deletes only those (the start of every run).

A run is **abandoned** when both hold:

- it was not kept on purpose: none of its resources carries the tag `dvr-verify-keep` (provision
  sets it on every Neutron resource of a run made with `dvr_verify_keep=true`; an operator may add
  it by hand: `openstack network set --tag dvr-verify-keep <network>`);
- its heartbeat is older than the bound `dvr_verify_abandon_after` (seconds, default 3600).

A run's heartbeat is the newest of its heartbeat tags (`dvr-verify-heartbeat-<Unix seconds>` on
its network: written at provision, refreshed by the run's `wait` step, once a minute while it
waits, and `snapshot` step) and its resources' creation times (so a run cut short, whatever it
had made, still ages). A run with neither is never provably abandoned, nor are resources tagged
`dvr-verify` without a run tag: only `make cleanup` (everything tagged,
`dvr_verify_cleanup_confirm=true` off the lab) deletes those. The times are the controller's clock
and the cloud's: their skew must be far below the bound.

Every resource of a run carries `dvr-verify-run-<run id>` (servers: in their metadata, keypairs:
`dvrv-<run id>`), which is how the sweep groups them. A deleted run goes the way of its own
cleanup (`provision.cleanup` with its run tag).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

from dvr_verify.backends import every_backend
from dvr_verify.backends.base import (
    KEEP_TAG,
    TAG,
    RunTrace,
    heartbeat_of,
    heartbeat_tag,
    run_tag,
)
from dvr_verify.provision import cleanup

DEFAULT_ABANDON_AFTER = 3600
"""Seconds without a heartbeat after which a run not kept is abandoned."""
MIN_ABANDON_AFTER = 600
"""The least bound: longer than a run's longest stretch without a heartbeat (the probe phase; the
ACTIVE wait beats every `BEAT_EVERY` seconds)."""
BEAT_EVERY = 60.0
"""Seconds between heartbeats while a run waits for its resources (`heartbeat_sleep`)."""

# Neutron resources the sweep reads: (kind as cleanup prints it, list method, label attribute).
NEUTRON_KINDS = (
    ("floating IP", "ips", "floating_ip_address"),
    ("port", "ports", "name"),
    ("router", "routers", "name"),
    ("network", "networks", "name"),
    ("subnet", "subnets", "name"),
    ("security group", "security_groups", "name"),
)


def heartbeat(traces: Iterable[RunTrace]) -> float | None:
    """The run's last sign of life: its newest heartbeat tag or resource creation time."""
    times = [t for trace in traces for t in (trace.heartbeat, trace.created) if t is not None]
    return max(times, default=None)


def why_spared(traces: Collection[RunTrace], now: float, bound: float) -> str | None:
    """Why the run of `traces` is not abandoned at `now`; None when it is."""
    if any(trace.kept for trace in traces):
        return f"kept (tag {KEEP_TAG})"
    beat = heartbeat(traces)
    if beat is None:
        return "no heartbeat and no creation time (its age is unknown)"
    if now - beat <= bound:
        return f"in progress (heartbeat {now - beat:.0f} s ago, bound {bound:.0f} s)"
    return None


def abandoned(traces: Collection[RunTrace], now: float, bound: float) -> bool:
    """The one definition (module docstring): not kept, and no heartbeat for over `bound`."""
    return why_spared(traces, now, bound) is None


def cloud_traces(conn: Any) -> list[RunTrace]:
    """Every resource tagged dvr-verify (Neutron), and every backend's (servers, keypairs)."""
    found = [
        RunTrace.of_tags(f"{kind} {getattr(item, label)}", item.tags, item.created_at)
        for kind, method, label in NEUTRON_KINDS
        for item in getattr(conn.network, method)(tags=TAG)
    ]
    return found + [trace for backend in every_backend() for trace in backend.traces(conn)]


def by_run(traces: Iterable[RunTrace]) -> dict[str | None, list[RunTrace]]:
    """The traces grouped by run id (None: of no run)."""
    runs: dict[str | None, list[RunTrace]] = {}
    for trace in traces:
        runs.setdefault(trace.run_id, []).append(trace)
    return runs


def sweep(conn: Any, now: float, bound: float, spare: Collection[str] = ()) -> list[str]:
    """Delete the resources of every abandoned run, never of a run in `spare` (the run that
    sweeps); one line per run saying why it was spared or that it is abandoned, then what was
    deleted."""
    lines = []
    for run_id, traces in sorted(by_run(cloud_traces(conn)).items(), key=lambda i: i[0] or ""):
        if run_id is None:
            lines.append(f"{len(traces)} resources tagged {TAG} of no run spared (make cleanup)")
            continue
        why = "this run" if run_id in spare else why_spared(traces, now, bound)
        if why:
            lines.append(f"run {run_id} spared: {why}")
            continue
        beat = heartbeat(traces) or 0.0
        lines.append(f"run {run_id} abandoned (heartbeat {now - beat:.0f} s ago): deleting")
        lines += cleanup(conn, run_tag(run_id))
    return lines


def touch_heartbeat(conn: Any, network_id: str, now: float) -> bool:
    """Refresh the heartbeat on a run's network: the new tag first, then the older ones go (the
    run always shows one). False when the run has no network (any more)."""
    net = conn.network.find_network(network_id, ignore_missing=True) if network_id else None
    if net is None:
        return False
    fresh = heartbeat_tag(now)
    old = [t for t in list(net.tags or ()) if heartbeat_of(t) is not None and t != fresh]
    conn.network.add_tag(net, fresh)
    for tag in old:
        conn.network.remove_tag(net, tag)
    return True


def heartbeat_sleep(
    conn: Any,
    network_id: str,
    every: float = BEAT_EVERY,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Callable[[float], None]:
    """A `sleep` for a run's waits that also refreshes its heartbeat once every `every` seconds,
    so a long wait (Nova VMs booting) never looks abandoned."""
    last = clock()

    def beating(seconds: float) -> None:
        nonlocal last
        sleep(seconds)
        if clock() - last >= every:
            last = clock()
            touch_heartbeat(conn, network_id, last)

    return beating
