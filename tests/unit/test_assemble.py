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


def test_traceroutes_over_ssh_are_read_from_the_vms_own_traceroute_output() -> None:
    from dvr_verify.assemble import traceroutes_from_text

    fixtures = Path(__file__).parent.parent / "fixtures" / "probe-tools"
    busybox = (fixtures / "traceroute-busybox-stars.txt").read_text()
    linux = (fixtures / "traceroute-linux-names.txt").read_text()
    text = f"== traceroute 10.9.9.9\n{busybox}== traceroute 10.2.0.2\n{linux}"
    (first, second), failures = traceroutes_from_text("c1", "10.1.0.2", text)
    assert str(first.destination) == "10.9.9.9" and str(first.source_ip) == "10.1.0.2"
    assert [str(a) if a else None for a in first.addresses] == ["10.1.0.1", None, None, None]
    assert str(second.destination) == "10.2.0.2" and second.addresses[0] is not None
    assert failures == ()


def test_a_vm_without_traceroute_is_one_clear_failure() -> None:
    from dvr_verify.assemble import traceroutes_from_text

    text = "== traceroute 172.30.0.1\nsudo: traceroute: command not found\n"
    traces, (failure,) = traceroutes_from_text("c1", "10.0.111.5", text)
    assert traces == () and (failure.vm, failure.destination) == ("c1", "172.30.0.1")
    assert "not traceroute output: 'sudo: traceroute: command not found'" in failure.reason


def test_a_section_ssh_cut_short_is_a_failure_and_earlier_ones_count() -> None:
    """Framed as probe.yml writes it: the VM closes each section, the controller adds ssh's rc."""
    from dvr_verify.assemble import traceroutes_from_text

    done = (LAB29 / "probes" / "traceroute-vm-with-fip.txt").read_text()
    cut = done.splitlines(keepends=True)[:2]  # header and the first hop, then SSH went away
    text = (
        f"== ssh c1\n== traceroute 172.30.0.1\n{done}== end\n"
        f"== traceroute 203.0.113.1\n{''.join(cut)}client_loop: send disconnect: Broken pipe\n"
        "== ssh exit 255\n"
    )
    (trace,), (failure,) = traceroutes_from_text("c1", "10.0.111.251", text)
    assert str(trace.destination) == "172.30.0.1" and len(trace.hops) == 3
    assert failure.destination == "203.0.113.1"
    assert "ssh exit 255" in failure.reason and "Broken pipe" in failure.reason


def test_ssh_that_ran_no_traceroute_is_one_failure_for_the_vm() -> None:
    from dvr_verify.assemble import traceroutes_from_text

    text = "== ssh c1\nConnection closed by UNKNOWN port 65535\n== ssh exit 255\n"
    traces, (failure,) = traceroutes_from_text("c1", "10.0.111.5", text)
    assert traces == () and failure.destination == ""
    assert "ssh exit 255" in failure.reason and "Connection closed" in failure.reason


def test_a_vm_ssh_did_not_reach_gets_no_egress_capture(tmp_path: Path) -> None:
    from dvr_verify.assemble import assemble

    resources = {
        "vms": [
            {"name": "c1", "ip": "10.0.111.5", "fip": "172.30.89.10"},
            {"name": "nofip", "ip": "10.0.111.6", "fip": None},
        ]
    }
    frame = {
        "src_mac": "fa:16:3e:00:00:01",
        "dst_mac": "fa:16:3e:00:00:02",
        "src_ip": "172.30.89.10",
        "dst_ip": "172.30.0.10",
        "protocol": "icmp",
    }
    (tmp_path / "capture.json").write_text(json.dumps({"frames": [frame]}))
    (tmp_path / "unreached.json").write_text(json.dumps({"vms": ["nofip"]}))
    probes = assemble(tmp_path, resources, "172.30.89.2")
    assert [e.vm for e in probes.egress] == ["c1"]


def test_a_capture_that_saw_nothing_leaves_every_vm_a_capture_to_fail(tmp_path: Path) -> None:
    """The VMs' pings never reached the probe host (say, ping needs root in the image): each VM
    still gets its capture, empty, for egress.source to fail; no capture file: no capture ran."""
    assert assemble(tmp_path, RESOURCES, "172.30.89.193").egress == ()
    (tmp_path / "capture.json").write_text(json.dumps({"frames": [], "seen": 0}))
    probes = assemble(tmp_path, RESOURCES, "172.30.89.193")
    assert [(e.vm, e.frames) for e in probes.egress] == [("vm1", ()), ("vm2", ())]
