"""Probe result types and the parsers of the manual tools' output, on real captures."""

from __future__ import annotations

import dataclasses
import json
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from garbage import raises_value_error

from dvr_verify.probes import (
    ArpProbe,
    ArpReply,
    CapturedFrame,
    EgressCapture,
    PingCounts,
    ProbeResults,
    Reachability,
    TraceHop,
    Traceroute,
    parse_arping,
    parse_ping,
    parse_tcpdump_e,
    parse_traceroute,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LAB = FIXTURES / "neutron-29-lab" / "probes"
TOOLS = FIXTURES / "probe-tools"
SEED = FIXTURES / "seed" / "dvr-north-south-notes.rst"

FIP = IPv4Address("172.30.89.152")
ROUTER_GW = IPv4Address("172.30.89.193")
FG_MAC_NODE12 = "fa:16:3e:72:34:1b"
QG_MAC_NODE11 = "fa:16:3e:1c:ec:da"


def ip(text: str) -> IPv4Address:
    return IPv4Address(text)


def seed_block(first_line: str, lines: int) -> str:
    """`lines` lines of the seed runbook's code block that starts with `first_line` (dedented)."""
    text = [line.strip() for line in SEED.read_text().splitlines()]
    start = text.index(first_line)
    return "\n".join(text[start : start + lines]) + "\n"


# --- arping ------------------------------------------------------------------------------------


def test_arping_lab_fip_answered_by_fg_mac_of_vm_host() -> None:
    probe = parse_arping((LAB / "arping-fip-from-upstream.txt").read_text(), "172.30.89.152")
    assert probe.target == FIP
    assert probe.sender_ip == ip("172.30.0.1")
    assert probe.interface == "eth0"
    assert probe.sent == 2
    assert len(probe.replies) == 2
    assert probe.macs == frozenset({FG_MAC_NODE12})
    assert probe.replies[0] == ArpReply(FIP, FG_MAC_NODE12, FIP)


@pytest.mark.parametrize(
    ("name", "target", "sent", "macs"),
    [
        ("arping-iputils.txt", "10.1.0.1", 2, {"ee:22:e3:58:30:3f"}),
        ("arping-iputils-none.txt", "10.1.0.99", 2, set()),
        ("arping-busybox.txt", "10.1.0.1", 2, {"ee:22:e3:58:30:3f"}),
        ("arping-busybox-none.txt", "10.1.0.99", 1, set()),
    ],
)
def test_arping_iputils_and_busybox(name: str, target: str, sent: int, macs: set[str]) -> None:
    probe = parse_arping((TOOLS / name).read_text(), ip(target))
    assert (probe.sent, probe.macs, probe.interface) == (sent, frozenset(macs), "va")
    assert probe.sender_ip == ip("10.1.0.2")


def test_arping_seed_habets_output() -> None:
    text = seed_block("ARPING 172.30.89.140", 2)
    probe = parse_arping(text, "172.30.89.140")
    assert probe.macs == frozenset({"fa:16:3e:6f:c7:c5"})
    # Habets' arping names neither source nor interface, and the excerpt has no summary.
    assert (probe.sender_ip, probe.interface, probe.sent) == (None, "", 0)


def test_arping_two_responders_gives_two_macs() -> None:
    lines = (LAB / "arping-fip-from-upstream.txt").read_text().splitlines()
    lines.insert(2, "Unicast reply from 172.30.89.152 [FA:16:3E:0D:DE:AD]  1.100ms")
    probe = parse_arping("\n".join(lines), FIP)
    assert probe.macs == frozenset({FG_MAC_NODE12, "fa:16:3e:0d:de:ad"})


test_arping_garbage_raises = raises_value_error(
    lambda text: parse_arping(text, FIP),
    {
        "empty": "",
        "device-error": "arping: Device eth9 not available.\n",
        "garbage": "random words\n1 2 3\n",
    },
    match="not arping output",
)


def test_arping_output_of_another_target_raises() -> None:
    with pytest.raises(ValueError, match=r"for 172\.30\.89\.152, not 172\.30\.89\.153"):
        parse_arping((LAB / "arping-fip-from-upstream.txt").read_text(), "172.30.89.153")


# --- tcpdump -e ----------------------------------------------------------------------------------


def test_tcpdump_lab_upstream_frames() -> None:
    frames = parse_tcpdump_e((LAB / "tcpdump-e-upstream-icmp.txt").read_text())
    assert len(frames) == 8
    assert {frame.protocol for frame in frames} == {"icmp"}
    assert frames[0] == CapturedFrame(
        FG_MAC_NODE12, "02:91:65:a7:f0:6e", FIP, ip("172.30.0.1"), "icmp"
    )
    with_fip = EgressCapture("vm1", ip("10.0.111.251"), FIP, frames[:4])
    without_fip = EgressCapture("vm2", ip("10.0.111.135"), None, frames[4:])
    assert with_fip.macs_from(FIP) == frozenset({FG_MAC_NODE12})
    assert without_fip.macs_from(ROUTER_GW) == frozenset({QG_MAC_NODE11})
    assert with_fip.macs_from(ROUTER_GW) == frozenset()


def test_tcpdump_any_interface_has_no_destination_mac() -> None:
    frames = parse_tcpdump_e((TOOLS / "tcpdump-e-any-icmp.txt").read_text())
    assert len(frames) == 6
    assert {frame.dst_mac for frame in frames} == {""}
    assert frames[0].src_mac == "ea:a9:e9:a6:74:b3"
    assert (frames[2].src_ip, frames[2].dst_ip) == (ip("10.2.0.2"), ip("10.1.0.2"))


def test_tcpdump_tcp_and_udp_drop_ports_and_skip_status_lines() -> None:
    tcp = parse_tcpdump_e((TOOLS / "tcpdump-e-tcp.txt").read_text())
    assert [frame.protocol for frame in tcp] == ["tcp"] * 4
    assert tcp[0].dst_ip == ip("10.2.0.2")
    mixed = parse_tcpdump_e((TOOLS / "tcpdump-e-udp-icmp-errors.txt").read_text())
    assert [frame.protocol for frame in mixed] == ["icmp", "icmp", "udp", "icmp", "udp", "icmp"]


def test_tcpdump_vlan_tagged_frame() -> None:
    # Constructed in tcpdump 4.99's 802.1Q format (the capture machine had no 8021q module).
    line = (
        "13:22:01.893980 ea:a9:e9:a6:74:b3 > ee:22:e3:58:30:3f, ethertype 802.1Q (0x8100), "
        "length 102: vlan 100, p 0, ethertype IPv4 (0x0800), 10.3.0.2 > 10.3.0.1: ICMP echo "
        "request, id 1, seq 1, length 64"
    )
    assert parse_tcpdump_e(line) == (
        CapturedFrame(
            "ea:a9:e9:a6:74:b3", "ee:22:e3:58:30:3f", ip("10.3.0.2"), ip("10.3.0.1"), "icmp"
        ),
    )


def test_tcpdump_garbage_and_non_ipv4_give_no_frames() -> None:
    text = (
        "tcpdump: verbose output suppressed, use -v[v]... for full protocol decode\n"
        "13:05:36.000000 02:91:65:a7:f0:6e > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: "
        "Request who-has 172.30.89.152 tell 172.30.0.1, length 28\n"
        "not tcpdump at all\n"
    )
    assert parse_tcpdump_e(text) == ()
    assert parse_tcpdump_e("") == ()


# --- traceroute ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hops"),
    [
        ("traceroute-vm-with-fip.txt", ["10.0.111.1", "169.254.127.193", "172.30.0.1"]),
        ("traceroute-vm2-without-fip.txt", ["10.0.111.1", "10.0.111.187", "172.30.0.1"]),
    ],
)
def test_traceroute_lab(name: str, hops: list[str]) -> None:
    parsed = parse_traceroute((LAB / name).read_text())
    assert [hop.ttl for hop in parsed] == [1, 2, 3]
    trace = Traceroute("vm", ip("10.0.111.251"), ip("172.30.0.1"), parsed)
    assert trace.addresses == tuple(ip(hop) for hop in hops)


def test_traceroute_seed_without_n() -> None:
    text = seed_block("traceroute to 8.8.8.8 (8.8.8.8), 30 hops max, 46 byte packets", 4)
    assert [hop.address for hop in parse_traceroute(text)] == [
        ip("10.0.111.1"),
        ip("169.254.106.115"),
        ip("172.30.0.1"),
    ]


@pytest.mark.parametrize("tool", ["busybox", "linux"])
def test_traceroute_star_hops_are_none(tool: str) -> None:
    hops = parse_traceroute((TOOLS / f"traceroute-{tool}-stars.txt").read_text())
    assert hops == (
        TraceHop(1, ip("10.1.0.1")),
        TraceHop(2, None),
        TraceHop(3, None),
        TraceHop(4, None),
    )


@pytest.mark.parametrize("tool", ["busybox", "linux"])
def test_traceroute_with_names(tool: str) -> None:
    hops = parse_traceroute((TOOLS / f"traceroute-{tool}-names.txt").read_text())
    assert [hop.address for hop in hops] == [ip("10.1.0.1"), ip("10.2.0.2")]


def test_traceroute_several_addresses_keep_first() -> None:
    text = (
        "traceroute to 172.30.0.1 (172.30.0.1), 30 hops max, 60 byte packets\n"
        " 1  10.0.111.1  1.347 ms  10.0.111.2  1.386 ms  10.0.111.3  1.412 ms\n"
        " 2  *  169.254.127.193  1.462 ms *\n"
        " 3  gw.example (172.30.0.1)  2.219 ms !H  gw2.example (172.30.0.2)  2.251 ms !H  *\n"
    )
    assert [hop.address for hop in parse_traceroute(text)] == [
        ip("10.0.111.1"),
        ip("169.254.127.193"),
        ip("172.30.0.1"),
    ]


def test_traceroute_header_only_is_empty() -> None:
    assert (
        parse_traceroute("traceroute to 10.9.9.9 (10.9.9.9), 4 hops max, 46 byte packets\n") == ()
    )


test_traceroute_garbage_raises = raises_value_error(
    parse_traceroute,
    {
        "empty": "",
        "error": "traceroute: bad address 'nowhere'\n",
        "garbage": "2 packets transmitted, 2 received\n",
    },
    match="not traceroute output",
)


# --- ping ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (LAB / "ping-fip-from-upstream.txt", PingCounts(2, 2, 62)),
        (TOOLS / "ping-iputils.txt", PingCounts(2, 2, 63)),
        (TOOLS / "ping-busybox.txt", PingCounts(2, 2, 63)),
        (TOOLS / "ping-loss.txt", PingCounts(2, 0, None)),
        (TOOLS / "ping-df.txt", PingCounts(1, 0, None)),
    ],
    ids=lambda value: value.name if isinstance(value, Path) else None,
)
def test_ping(path: Path, expected: PingCounts) -> None:
    assert parse_ping(path.read_text()) == expected


test_ping_without_statistics_raises = raises_value_error(
    parse_ping,
    {
        "empty": "",
        "unknown-host": "ping: nowhere: Name or service not known\n",
        # killed before the summary: replies but no statistics line
        "no-summary": "PING 10.2.0.2 (10.2.0.2) 56(84) bytes of data.\n"
        "64 bytes from 10.2.0.2: icmp_seq=1 ttl=63 time=0.278 ms\n",
    },
    match="no ping statistics line",
)


# --- the data model ------------------------------------------------------------------------------


def sample_results() -> ProbeResults:
    frames = parse_tcpdump_e((LAB / "tcpdump-e-upstream-icmp.txt").read_text())
    return ProbeResults(
        arp=(parse_arping((LAB / "arping-fip-from-upstream.txt").read_text(), FIP),),
        egress=(
            EgressCapture("vm1", ip("10.0.111.251"), FIP, frames[:4]),
            EgressCapture("vm2", ip("10.0.111.135"), None, frames[4:]),
        ),
        reachability=(
            Reachability(FIP, "icmp", None, 2, 2, 62),
            Reachability(FIP, "tcp", 22, 1, 0, None),
            Reachability(FIP, "icmp_df", None, 1, 1, 62),
        ),
        traceroutes=(
            Traceroute(
                "vm1", ip("10.0.111.251"), ip("172.30.0.1"),
                (TraceHop(1, ip("10.0.111.1")), TraceHop(2, None), TraceHop(3, ip("172.30.0.1"))),
            ),
        ),
    )  # fmt: skip


def test_probe_results_round_trip_through_json() -> None:
    results = sample_results()
    data = json.loads(json.dumps(results.as_dict()))
    assert set(data) == {"arp", "egress", "reachability", "traceroutes"}
    assert data["egress"][1]["fip"] is None
    assert data["traceroutes"][0]["hops"][1] == {"ttl": 2, "address": None}
    assert ProbeResults.from_dict(data) == results


def test_probe_results_empty() -> None:
    empty = {"arp": [], "egress": [], "reachability": [], "traceroutes": []}
    assert ProbeResults.from_dict(empty) == ProbeResults()
    assert ProbeResults().as_dict() == empty


def test_probe_results_missing_section_raises() -> None:
    with pytest.raises(ValueError, match="missing key 'traceroutes'"):
        ProbeResults.from_dict({"arp": [], "egress": [], "reachability": []})


def test_probe_results_bad_item_names_section_and_index() -> None:
    data = sample_results().as_dict()
    del data["egress"][1]["frames"][0]["src_mac"]
    with pytest.raises(ValueError, match=r"egress\[1\]: missing key 'src_mac'"):
        ProbeResults.from_dict(data)
    data = sample_results().as_dict()
    data["arp"][0]["target"] = "not-an-ip"
    with pytest.raises(ValueError, match=r"arp\[0\]"):
        ProbeResults.from_dict(data)


def test_macs_are_normalised_and_validated() -> None:
    assert ArpReply(FIP, "FA:16:3E:72:34:1B", FIP).mac == FG_MAC_NODE12
    with pytest.raises(ValueError, match="not a MAC address"):
        ArpReply(FIP, "fa:16:3e:72:34", FIP)
    with pytest.raises(ValueError, match="not a MAC address"):
        CapturedFrame("", "", FIP, FIP, "icmp")


def test_types_are_frozen_and_hashable() -> None:
    probe = ArpProbe(FIP, "eth0", None, [ArpReply(FIP, FG_MAC_NODE12, FIP)], 1)  # type: ignore[arg-type]
    assert isinstance(probe.replies, tuple)
    assert hash(probe) == hash(ArpProbe(FIP, "eth0", None, (ArpReply(FIP, FG_MAC_NODE12, FIP),), 1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        probe.sent = 3  # type: ignore[misc]


def test_reachability_validation() -> None:
    assert Reachability(FIP, "icmp", None, 2, 2, 62).answered
    assert not Reachability(FIP, "tcp", 22, 1, 0, None).answered
    with pytest.raises(ValueError, match="kind 'udp'"):
        Reachability(FIP, "udp", 53, 1, 1, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a port"):
        Reachability(FIP, "tcp", None, 1, 1, None)
