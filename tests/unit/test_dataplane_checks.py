"""Data-plane verdicts on the real probe captures of the lab (fixtures/neutron-29-lab/probes)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace

from capture_loader import LAB29, LAB29_HOSTS, load_capture

from dvr_verify.checks import DATAPLANE_CHECKS
from dvr_verify.checks.dataplane import check_dataplane
from dvr_verify.expect import build_expectations, load_snapshot
from dvr_verify.findings import Status
from dvr_verify.model import parse_node
from dvr_verify.probes import (
    ArpReply,
    EgressCapture,
    ProbeResults,
    Reachability,
    Traceroute,
    parse_arping,
    parse_ping,
    parse_tcpdump_e,
    parse_traceroute,
)

PROBES = LAB29 / "probes"
FIP = ipaddress.ip_address("172.30.89.152")
VM1 = ipaddress.ip_address("10.0.111.251")
VM2 = ipaddress.ip_address("10.0.111.135")
GATEWAY = ipaddress.ip_address("172.30.0.1")
EXP = build_expectations(load_snapshot(LAB29 / "api"))
NODES = {h: parse_node(load_capture(LAB29 / h)) for h in LAB29_HOSTS}


def real_probes() -> ProbeResults:
    arp = parse_arping((PROBES / "arping-fip-from-upstream.txt").read_text(), FIP)
    frames = parse_tcpdump_e((PROBES / "tcpdump-e-upstream-icmp.txt").read_text())
    outbound = [f for f in frames if f.dst_ip == GATEWAY]
    ping = parse_ping((PROBES / "ping-fip-from-upstream.txt").read_text())
    return ProbeResults(
        arp=(arp,),
        egress=(
            EgressCapture("vm1", VM1, FIP, tuple(f for f in outbound if f.src_ip == FIP)),
            EgressCapture("vm2", VM2, None, tuple(f for f in outbound if f.src_ip != FIP)),
        ),
        reachability=(Reachability(FIP, "icmp", None, ping.sent, ping.received, ping.ttl),),
        traceroutes=(
            Traceroute(
                "vm1",
                VM1,
                GATEWAY,
                parse_traceroute((PROBES / "traceroute-vm-with-fip.txt").read_text()),
            ),
            Traceroute(
                "vm2",
                VM2,
                GATEWAY,
                parse_traceroute((PROBES / "traceroute-vm2-without-fip.txt").read_text()),
            ),
        ),
    )


def by_check(findings, check: str):
    return [f for f in findings if f.check == check]


def test_real_probes_pass() -> None:
    findings = check_dataplane(EXP, real_probes(), NODES)
    # the lab capture holds an ICMP reachability probe only
    assert {f.check for f in findings} == set(DATAPLANE_CHECKS) - {"reach.icmp_df", "reach.tcp"}
    assert [f.line() for f in findings if f.status is not Status.PASS] == []
    assert len(by_check(findings, "egress.source")) == 2
    assert len(by_check(findings, "trace.path")) == 2


def test_arp_answered_by_the_network_node_fails() -> None:
    probes = real_probes()
    other = replace(probes.arp[0], replies=(ArpReply(FIP, "fa:16:3e:c5:52:a7", FIP),))
    (hit,) = by_check(check_dataplane(EXP, replace(probes, arp=(other,)), NODES), "arp.responder")
    assert hit.failed and "fa:16:3e:72:34:1b" in hit.expected
    assert hit.observed == "fa:16:3e:c5:52:a7"


def test_arp_answered_twice_fails() -> None:
    probes = real_probes()
    extra = ArpReply(FIP, "fa:16:3e:1c:ec:da", FIP)
    two = replace(probes.arp[0], replies=(*probes.arp[0].replies, extra))
    (hit,) = by_check(check_dataplane(EXP, replace(probes, arp=(two,)), NODES), "arp.responder")
    assert hit.failed and "fa:16:3e:1c:ec:da" in hit.observed


def test_arp_without_reply_fails() -> None:
    probes = real_probes()
    silent = replace(probes.arp[0], replies=())
    (hit,) = by_check(check_dataplane(EXP, replace(probes, arp=(silent,)), NODES), "arp.responder")
    assert hit.failed and "no reply" in hit.observed


def test_fip_vm_leaving_through_snat_fails() -> None:
    """The FIP VM's frames seen with the router gateway IP: its FIP is not plumbed."""
    probes = real_probes()
    snat_frames = probes.egress[1].frames
    wrong = replace(probes.egress[0], frames=snat_frames)
    findings = check_dataplane(EXP, replace(probes, egress=(wrong, probes.egress[1])), NODES)
    hits = [f for f in by_check(findings, "egress.source") if f.failed]
    assert len(hits) == 1 and hits[0].subject == str(FIP)


def test_vms_whose_pings_never_reached_the_capture_fail() -> None:
    """The capture ran and saw no frame (the VMs' ping needs root in the image, say)."""
    probes = real_probes()
    empty = tuple(replace(e, frames=()) for e in probes.egress)
    findings = by_check(check_dataplane(EXP, replace(probes, egress=empty), NODES), "egress.source")
    assert len(findings) == 2 and all(f.failed for f in findings)
    assert {f.observed for f in findings} == {"no frame reached the capture host"}


def test_unanswered_ping_fails() -> None:
    probes = real_probes()
    lost = replace(probes.reachability[0], received=0)
    (hit,) = by_check(
        check_dataplane(EXP, replace(probes, reachability=(lost,)), NODES), "reach.icmp"
    )
    assert hit.failed and hit.observed == "0/2 answered"


def test_fip_vm_traced_through_sg_fails() -> None:
    probes = real_probes()
    wrong = replace(probes.traceroutes[0], hops=probes.traceroutes[1].hops)
    findings = check_dataplane(EXP, replace(probes, traceroutes=(wrong,)), NODES)
    (hit,) = by_check(findings, "trace.path")
    assert hit.failed and "169.254.127.193" in hit.expected and "10.0.111.187" in hit.observed


def test_trace_without_node_state_is_not_verified() -> None:
    probes = real_probes()
    findings = check_dataplane(EXP, replace(probes, traceroutes=probes.traceroutes[:1]), {})
    (hit,) = by_check(findings, "trace.path")
    assert hit.status is Status.NOT_VERIFIED


CAPTURE_ROUTER = "b0853bf0-1485-48a3-8d0d-f4f684bca6f8"
# The capture router's tenant network, subnet and ports, and what the second router has instead.
SECOND_ROUTER = {
    CAPTURE_ROUTER: "0a4bfeef-f174-4f36-b861-0d86530a93c1",
    "951d0ba8-00c6-4e52-b220-ca0bf15960e4": "5c1b7e2a-9d44-4b0e-8f3a-6a2e1d7c9b01",  # network
    "775e54a5-7448-43a2-99fd-07d3793f8b57": "8e2f4a6c-1b3d-4e5f-9a7b-0c1d2e3f4a5b",  # subnet
    "50156f9c-a44e-4f6c-9498-addaff19ffc2": "3d5f7a9b-2c4e-4f6a-8b0c-1d2e3f4a5b6c",  # sg-
    "7e7c4608-4c2f-496b-a366-334ca0758504": "6a8c0e2f-4b6d-4f8a-9c0e-2f4a6c8e0a2c",  # qr-
    "b3e48229-13e6-4db7-9adb-dd4952f25a1e": "9b1d3f5a-7c9e-4b1d-8f3a-5c7e9b1d3f5a",  # qg-
    "10.0.111.187": "10.0.111.17",  # the sg- address
    "172.30.89.193": "172.30.89.184",  # the gateway address
    "fa:16:3e:c8:0c:cd": "fa:16:3e:00:00:17",
    "fa:16:3e:7a:f3:81": "fa:16:3e:00:00:01",
    "fa:16:3e:1c:ec:da": "fa:16:3e:00:01:84",
}


def _with_second_router() -> dict:
    """The capture's API with a second distributed router listed first, on a network of its own
    whose subnet has the capture's tenant CIDR too (another project's, or a run's at the same
    time): the capture's VM addresses are in both routers' subnets."""
    snap = load_snapshot(LAB29 / "api")
    ports = [p for p in snap["ports"] if p["device_id"] == CAPTURE_ROUTER]
    tenant = SECOND_ROUTER.keys()
    copies = {
        "routers": snap["routers"],
        "ports": ports,
        "networks": [n for n in snap["networks"] if n["id"] in tenant],
        "subnets": [s for s in snap["subnets"] if s["id"] in tenant],
    }
    text = json.dumps(copies)
    for old, new in SECOND_ROUTER.items():
        text = text.replace(old, new)
    second = json.loads(text)
    return {**snap, **{key: second[key] + snap[key] for key in copies}}


def test_vms_of_overlapping_tenant_subnets_are_judged_behind_the_runs_router() -> None:
    """Two runs at once (the lab's concurrent test) each have 10.0.111.0/24: a VM is judged on
    the run's own router, not on whichever router with that CIDR comes first (before: trace.path
    expected the other router's sg- 10.0.111.17, egress.source its gateway 172.30.89.184)."""
    exp = build_expectations(_with_second_router())
    assert next(iter(exp.routers)) == SECOND_ROUTER[CAPTURE_ROUTER]
    findings = check_dataplane(exp, real_probes(), NODES, CAPTURE_ROUTER)
    judged = {(f.check, f.subject) for f in findings if f.check in ("trace.path", "egress.source")}
    assert len(judged) == 4, judged
    assert all(f.status is Status.PASS for f in findings), [f.line() for f in findings]


def test_a_vm_whose_router_is_not_known_and_ambiguous_is_not_verified() -> None:
    exp = build_expectations(_with_second_router())
    findings = check_dataplane(exp, real_probes(), NODES)
    (egress,) = [f for f in by_check(findings, "egress.source") if f.subject == f"vm2 {VM2}"]
    assert egress.status is Status.NOT_VERIFIED
    assert CAPTURE_ROUTER in egress.observed and SECOND_ROUTER[CAPTURE_ROUTER] in egress.observed
    traces = by_check(findings, "trace.path")
    assert {f.status for f in traces} == {Status.NOT_VERIFIED}, [f.line() for f in traces]
