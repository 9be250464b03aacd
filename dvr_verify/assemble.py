"""Probe module outputs of one run -> ProbeResults, attributing captured frames to the run's VMs.

Files in the probe directory (each the JSON a probe module returned; all optional):
`arp.json`, `reach.json` and `capture.json` (what dvr_edge_probe, or dvr_arp_probe,
dvr_reach_probe and dvr_capture, returned while every VM pinged the probe host),
`traceroute-<node>.json` (dvr_traceroute inside the VMs of a node, with `errors` per VM) or
`traceroute-<vm>.txt` (the output of the VM's own traceroute, run over SSH: one section per
destination, each headed `== traceroute <destination>` and closed by `== end`, all between
`== ssh <vm>` and `== ssh exit <rc>`, which the controller writes), `unreached.json`
(`{"vms": [...]}`: VMs SSH did not reach, whose in-VM probes did not run).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, NamedTuple

from dvr_verify.probes import (
    ArpProbe,
    CapturedFrame,
    EgressCapture,
    ProbeResults,
    Reachability,
    Traceroute,
    parse_traceroute,
)
from dvr_verify.provision import Provisioned

RunResources = Provisioned | Mapping[str, Any]

_SECTION = "== traceroute "
_END = "== end"  # the VM's shell, once its traceroute returned
_SSH_START = "== ssh "  # the controller's shell, before ssh (marks the framed format)
_SSH_EXIT = re.compile(r"^== ssh exit (?P<rc>\d+)\s*$", re.MULTILINE)


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


class RunVM(NamedTuple):
    """What the probes need of a run's VM."""

    name: str
    ip: str
    fip: str | None


def run_vms(resources: RunResources) -> list[RunVM]:
    """The run's VMs, from its `Provisioned` (or a dict of its shape, as tests write them)."""
    if isinstance(resources, Provisioned):
        return [RunVM(vm.name, vm.ip, vm.fip) for vm in resources.vms]
    return [RunVM(vm["name"], vm["ip"], vm.get("fip")) for vm in resources.get("vms", ())]


def unreached_vms(probe_dir: Path) -> tuple[str, ...]:
    """The VMs whose in-VM probes (egress ping, traceroute) did not run: SSH did not reach them."""
    return tuple(_read(probe_dir / "unreached.json").get("vms", ()))


def egress_per_vm(
    resources: RunResources,
    frames: tuple[CapturedFrame, ...],
    gateway_ip: str | None,
    skip: tuple[str, ...] = (),
) -> tuple[EgressCapture, ...]:
    """A VM with a FIP owns the frames from its FIP; one without owns those from the router
    gateway IP; frames from a fixed IP (not translated at all) belong to that VM. VMs in `skip`
    sent nothing (their probe did not run) and get no capture."""
    out = []
    gateway = ipaddress.ip_address(gateway_ip) if gateway_ip else None
    for vm in run_vms(resources):
        if vm.name in skip:
            continue
        fixed = ipaddress.ip_address(vm.ip)
        fip = ipaddress.ip_address(vm.fip) if vm.fip else None
        sources = {fixed, fip if fip is not None else gateway}
        mine = tuple(f for f in frames if f.src_ip in sources)
        out.append(EgressCapture(vm=vm.name, fixed_ip=fixed, fip=fip, frames=mine))
    return tuple(out)


class TraceFailure(NamedTuple):
    """A VM's traceroute that gave no verdict (`destination` "" when none ran), and why."""

    vm: str
    destination: str
    reason: str


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return repr(lines[-1][:80]) if lines else "no output"


def _section(vm: str, source_ip: str, section: str, framed: str | None) -> Traceroute:
    """One `== traceroute D` section; ValueError (the reason) when it gives no verdict.
    `framed` is the ssh exit text of a framed file (None: unframed, each section taken whole)."""
    destination, _, body = section.partition("\n")
    output, ended, _ = body.partition(_END)
    if framed is not None and not ended:
        raise ValueError(f"output ends before traceroute did ({framed}): {_last_line(output)}")
    try:
        target = IPv4Address(destination.strip())
    except ValueError:
        raise ValueError(f"{destination.strip()!r} is not an IPv4 destination") from None
    return Traceroute(vm, IPv4Address(source_ip), target, parse_traceroute(output))


def traceroutes_from_text(
    vm: str, source_ip: str, text: str
) -> tuple[tuple[Traceroute, ...], tuple[TraceFailure, ...]]:
    """The traceroutes in the text a VM's traceroute printed, one per `== traceroute D` section,
    and a failure per section that gives no verdict (not traceroute output: no such command, a
    sudo prompt; cut short: SSH dropped), or one for the VM when no traceroute ran at all."""
    exit_match = _SSH_EXIT.search(text)
    framed = None
    if text.startswith(_SSH_START):
        framed = f"ssh exit {exit_match['rc']}" if exit_match else "ssh did not return"
    body = _SSH_EXIT.sub("", text)
    head, *sections = body.split(_SECTION)
    traces: list[Traceroute] = []
    failures: list[TraceFailure] = []
    if not sections:
        why = f"no traceroute ran ({framed or 'no section'}): {_last_line(head)}"
        failures.append(TraceFailure(vm, "", why))
    for section in sections:
        try:
            traces.append(_section(vm, source_ip, section, framed))
        except ValueError as exc:
            failures.append(TraceFailure(vm, section.partition("\n")[0].strip(), str(exc)))
    return tuple(traces), tuple(failures)


def _text_traceroutes(
    probe_dir: Path, resources: RunResources
) -> tuple[tuple[Traceroute, ...], tuple[TraceFailure, ...]]:
    fixed = {vm.name: vm.ip for vm in run_vms(resources)}
    skip = unreached_vms(probe_dir)
    traces: tuple[Traceroute, ...] = ()
    failures: tuple[TraceFailure, ...] = ()
    for path in sorted(probe_dir.glob("traceroute-*.txt")):
        vm = path.stem.removeprefix("traceroute-")
        if vm in fixed and vm not in skip:
            found, failed = traceroutes_from_text(vm, fixed[vm], path.read_text())
            traces, failures = traces + found, failures + failed
    return traces, failures


def _module_trace_failures(probe_dir: Path) -> tuple[TraceFailure, ...]:
    """The VMs dvr_traceroute could not trace from (its `errors`: VM -> message)."""
    return tuple(
        TraceFailure(str(vm), "", str(message))
        for path in sorted(probe_dir.glob("traceroute-*.json"))
        for vm, message in sorted((_read(path).get("errors") or {}).items())
    )


def trace_failures(probe_dir: Path, resources: RunResources) -> tuple[TraceFailure, ...]:
    """The VMs' traceroutes that gave no verdict (their findings: 'not verified'), over SSH or
    from dvr_traceroute, of the run's VMs that SSH reached."""
    names = {vm.name for vm in run_vms(resources)} - set(unreached_vms(probe_dir))
    module = tuple(f for f in _module_trace_failures(probe_dir) if f.vm in names)
    return _text_traceroutes(probe_dir, resources)[1] + module


def assemble(probe_dir: Path, resources: RunResources, gateway_ip: str | None) -> ProbeResults:
    arp = tuple(ArpProbe.from_dict(p) for p in _read(probe_dir / "arp.json").get("arp", ()))
    reach = tuple(
        Reachability.from_dict(r) for r in _read(probe_dir / "reach.json").get("reachability", ())
    )
    frames = tuple(
        CapturedFrame.from_dict(f) for f in _read(probe_dir / "capture.json").get("frames", ())
    )
    module_traces = tuple(
        Traceroute.from_dict(t)
        for path in sorted(probe_dir.glob("traceroute-*.json"))
        for t in _read(path).get("traceroutes", ())
    )
    traces = module_traces + _text_traceroutes(probe_dir, resources)[0]
    skip = unreached_vms(probe_dir)
    # A capture that ran and saw nothing is every pinging VM's failure, not an absent check.
    ran = (probe_dir / "capture.json").exists()
    egress = egress_per_vm(resources, frames, gateway_ip, skip) if ran else ()
    return ProbeResults(arp=arp, egress=egress, reachability=reach, traceroutes=traces)
