"""Captured frames attributed to the run's VMs (real upstream capture of the lab)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from capture_loader import LAB29

from dvr_verify.assemble import assemble, egress_per_vm
from dvr_verify.probes import parse_tcpdump_e

FRAMES = parse_tcpdump_e((LAB29 / "probes" / "tcpdump-e-upstream-icmp.txt").read_text())
RESOURCES = {
    "vms": [
        {"name": "vm1", "ip": "10.0.111.251", "fip": "172.30.89.152", "port_id": "p1"},
        {"name": "vm2", "ip": "10.0.111.135", "fip": None, "port_id": "p2"},
    ]
}


def test_frames_go_to_the_vm_that_sent_them() -> None:
    vm1, vm2 = egress_per_vm(RESOURCES, FRAMES, "172.30.89.193")
    assert {str(f.src_ip) for f in vm1.frames} == {"172.30.89.152"}
    assert {str(f.src_ip) for f in vm2.frames} == {"172.30.89.193"}
    assert vm1.macs_from(ipaddress.ip_address("172.30.89.152")) == {"fa:16:3e:72:34:1b"}


def test_untranslated_frames_stay_with_their_vm() -> None:
    """A VM whose own address shows upstream (no NAT) keeps those frames, so the check sees them."""
    vm = {"name": "vm9", "ip": "172.30.89.193", "fip": "172.30.89.200", "port_id": "p9"}
    (capture,) = egress_per_vm({"vms": [vm]}, FRAMES, None)
    assert capture.frames and {str(f.src_ip) for f in capture.frames} == {"172.30.89.193"}


def test_assemble_reads_module_outputs(tmp_path: Path) -> None:
    (tmp_path / "capture.json").write_text(json.dumps({"frames": [f.as_dict() for f in FRAMES]}))
    probes = assemble(tmp_path, RESOURCES, "172.30.89.193")
    assert len(probes.egress) == 2 and probes.arp == () and probes.traceroutes == ()
