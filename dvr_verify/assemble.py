"""Probe module outputs of one run -> ProbeResults, attributing captured frames to the run's VMs.

Files in the probe directory (each the JSON a probe module returned; all optional):
`arp.json`, `reach.json` and `capture.json` (what dvr_edge_probe, or dvr_arp_probe,
dvr_reach_probe and dvr_capture, returned while every VM pinged the probe host),
`traceroute-<node>.json` (dvr_traceroute inside the VMs of a node) or
`traceroute-<vm>.txt` (the output of the VM's own traceroute, run over SSH: one section per
destination, each headed `== traceroute <destination>`), `unreached.json` (`{"vms": [...]}`: VMs
SSH did not reach, whose in-VM probes did not run).
"""

from __future__ import annotations

import ipaddress
import json
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


def traceroutes_from_text(vm: str, source_ip: str, text: str) -> tuple[Traceroute, ...]:
    """The traceroutes in the text a VM's traceroute printed, one per `== traceroute D` section.
    A section that is not traceroute output (no such command, bad address) raises ValueError."""
    out = []
    for section in text.split(_SECTION)[1:]:
        destination, _, body = section.partition("\n")
        try:
            hops = parse_traceroute(body)
        except ValueError as exc:
            raise ValueError(f"traceroute from {vm} to {destination.strip()}: {exc}") from exc
        out.append(Traceroute(vm, IPv4Address(source_ip), IPv4Address(destination.strip()), hops))
    return tuple(out)


def _text_traceroutes(probe_dir: Path, resources: RunResources) -> tuple[Traceroute, ...]:
    fixed = {vm.name: vm.ip for vm in run_vms(resources)}
    out: list[Traceroute] = []
    for path in sorted(probe_dir.glob("traceroute-*.txt")):
        vm = path.stem.removeprefix("traceroute-")
        if vm in fixed:
            out += traceroutes_from_text(vm, fixed[vm], path.read_text())
    return tuple(out)


def assemble(probe_dir: Path, resources: RunResources, gateway_ip: str | None) -> ProbeResults:
    arp = tuple(ArpProbe.from_dict(p) for p in _read(probe_dir / "arp.json").get("arp", ()))
    reach = tuple(
        Reachability.from_dict(r) for r in _read(probe_dir / "reach.json").get("reachability", ())
    )
    frames = tuple(
        CapturedFrame.from_dict(f) for f in _read(probe_dir / "capture.json").get("frames", ())
    )
    traces = tuple(
        Traceroute.from_dict(t)
        for path in sorted(probe_dir.glob("traceroute-*.json"))
        for t in _read(path).get("traceroutes", ())
    ) + _text_traceroutes(probe_dir, resources)
    skip = unreached_vms(probe_dir)
    egress = egress_per_vm(resources, frames, gateway_ip, skip) if frames else ()
    return ProbeResults(arp=arp, egress=egress, reachability=reach, traceroutes=traces)
