"""collect_node on the lab captures: a fake runner answers each command with the captured output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from capture_loader import L3_NAMESPACES, LAB29, LAB29_HOSTS, replay_runner
from dvr_collect import collect_node, flow_protocol, select_namespaces


@pytest.mark.parametrize("host", LAB29_HOSTS)
def test_replay_lab_capture(host: str) -> None:
    host_dir = LAB29 / host
    calls: list[list[str]] = []
    options = {"parallel": 3, "namespaces": L3_NAMESPACES}
    doc = collect_node(replay_runner(host_dir, calls), options)
    listed = [n["name"] for n in json.loads((host_dir / "netns.json").read_text())]
    expected = sorted(n for n in listed if not n.startswith("vm"))  # node-12's "VMs" not captured
    assert [ns["name"] for ns in doc["namespaces"]] == expected
    assert doc["errors"] == []
    for ns in doc["namespaces"]:
        assert ns["status"] == "ok", ns["errors"]
        assert ns["iptables"]["backend"] == "nft"
        assert ns["iptables"]["neutron_chains_in"] == ["nft"]
        assert ns["sysctls"]["net.ipv4.ip_forward"] == "1"
        assert ns["links"] and ns["addresses"]
    fip = next(ns for ns in doc["namespaces"] if ns["name"].startswith("fip-"))
    fg = next(link["ifname"] for link in fip["links"] if link["ifname"].startswith("fg-"))
    assert fip["sysctls"][f"net.ipv4.conf.{fg}.proxy_arp"] == "1"
    notrack = fip["iptables"]["tables"]["raw"]["chains"]["neutron-l3-agent-PREROUTING"]["rules"]
    assert [r["target"] for r in notrack] == ["CT"]

    ovs = doc["ovs"]
    assert ovs["available"] is True and ovs["errors"] == []
    assert {b["name"] for b in ovs["bridges"]} == {"br-int", "br-ex", "br-vlan"}
    for bridge in ovs["bridges"]:
        assert bridge["flow_protocol"] == "OpenFlow14"
        assert bridge["flows"]
    qr = next(p for p in ovs["ports"] if p["name"].startswith("qr-"))
    assert qr["tag"] == 1
    assert qr["interfaces"] == [qr["name"]]
    iface = next(i for i in ovs["interfaces"] if i["name"] == qr["name"])
    assert iface["type"] == "internal" and isinstance(iface["ofport"], int)
    assert iface["external_ids"]["iface-status"] == "active"

    state = doc["l3_agent_state"]
    links = state["fip_linklocal_networks"]
    assert links["status"] == "ok"
    assert {"router_id": "b0853bf0-1485-48a3-8d0d-f4f684bca6f8", "cidr": "169.254.127.192/31"} in (
        links["entries"]
    )
    prio = state["fip_priorities"]
    if (host_dir / "state" / "fip-priorities").exists():
        assert prio["status"] == "ok"
        assert all(isinstance(e["priority"], int) for e in prio["entries"])
        assert any(e["fip"] == "172.30.89.152" for e in prio["entries"])
    else:
        assert prio == {"status": "missing", "entries": []}
    # read-only: nothing but listing/reading commands ran
    assert not any(word in argv for argv in calls for word in ("add", "del", "set", "-w"))


def test_flow_protocol_and_patterns() -> None:
    assert flow_protocol([]) == "OpenFlow10"
    assert flow_protocol(["OpenFlow13", "OpenFlow10"]) == "OpenFlow13"
    assert flow_protocol(["OpenFlow10", "OpenFlow15", "OpenFlow14"]) == "OpenFlow15"
    names = ["snat-b", "qrouter-a", "fip-c", "qdhcp-d"]
    assert select_namespaces(names, ["*"]) == sorted(names)
    assert select_namespaces(names, ["qrouter-*", "fip-?"]) == ["fip-c", "qrouter-a"]


def test_no_namespaces_and_legacy_only() -> None:
    """`ip -j netns list` prints nothing at all when there is no namespace."""

    def run(argv: list[str]) -> tuple[int, str, str]:
        if argv == ["ip", "-j", "link", "show", "lo"]:
            return 0, '[{"ifname": "lo"}]', ""
        if argv[:2] == ["ovs-vsctl", "--timeout=30"]:
            return 127, "", "ovs-vsctl: not found"
        if argv[0] == "cat":
            return 1, "", "cat: x: Permission denied"
        return 0, "", ""

    doc = collect_node(run, {})
    assert doc["namespaces"] == []
    assert doc["ovs"]["available"] is False and doc["ovs"]["errors"][0]["rc"] == 127
    assert doc["l3_agent_state"]["fip_priorities"] == {"status": "error", "entries": []}
    assert len(doc["errors"]) == 2  # both state files unreadable


def _failing(host_dir: Path, fails: Callable[[list[str]], bool]):
    replay = replay_runner(host_dir, [])

    def run(argv: list[str]) -> tuple[int, str, str]:
        if fails(list(argv)):
            return 1, "", "Operation not permitted"
        return replay(argv)

    return run


def test_unreadable_sysctls_are_listed_not_fatal() -> None:
    host_dir = LAB29 / LAB29_HOSTS[1]
    run = _failing(host_dir, lambda a: a[:3] == ["ip", "netns", "exec"] and a[4:6] == ["sh", "-c"])
    doc = collect_node(run, {"namespaces": L3_NAMESPACES})
    for ns in doc["namespaces"]:
        assert ns["status"] == "ok"
        assert ns["sysctls"] == {}
        assert [e["what"] for e in ns["errors"]] == ["sysctls"]
        assert ns["iptables"]["collected"] is True


def test_unreadable_links_make_the_namespace_an_error() -> None:
    host_dir = LAB29 / LAB29_HOSTS[1]
    run = _failing(
        host_dir, lambda a: a[:2] == ["ip", "-n"] and a[3:] == ["-j", "-d", "link", "show"]
    )
    doc = collect_node(run, {"namespaces": L3_NAMESPACES})
    assert {ns["status"] for ns in doc["namespaces"]} == {"error"}


def test_no_iptables_backend_answering_is_not_collected() -> None:
    host_dir = LAB29 / LAB29_HOSTS[1]
    run = _failing(host_dir, lambda a: a[:3] == ["ip", "netns", "exec"] and "save" in a[4])
    doc = collect_node(run, {"namespaces": L3_NAMESPACES})
    for ns in doc["namespaces"]:
        assert ns["status"] == "ok"
        assert ns["iptables"]["collected"] is False
        assert any(e["what"].startswith("iptables") for e in ns["errors"])
