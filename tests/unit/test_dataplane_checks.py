"""Data-plane verdicts on the real probe captures of the lab (fixtures/neutron-29-lab/probes)."""

from __future__ import annotations

import ipaddress
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
