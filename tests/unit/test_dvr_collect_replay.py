"""collect_node on the lab captures: a fake runner answers each command with the captured output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from capture_loader import L3_NAMESPACES, LAB29, LAB29_HOSTS, replay_runner
from dvr_collect import (
    L3_AGENT_CONFIG,
    NEUTRON_STATE_PATH,
    collect_node,
    flow_protocol,
    select_namespaces,
)

from dvr_verify.checks import run_node_checks
from dvr_verify.expect import build_expectations, load_snapshot
from dvr_verify.findings import Status
from dvr_verify.model import parse_node

STATE_FILES = ("fip-linklocal-networks", "fip-priorities")


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
    unreadable = [e["command"].split()[-1] for e in doc["errors"]]  # config and state files
    assert unreadable == [*L3_AGENT_CONFIG, *(f"{NEUTRON_STATE_PATH}/{f}" for f in STATE_FILES)]
    assert doc["l3_agent_state"]["state_path_source"] == "default"


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


# DevStack's /etc/neutron/neutron.conf (lib/neutron: iniset $NEUTRON_CONF DEFAULT state_path
# $DATA_DIR/neutron, DATA_DIR=/opt/stack/data), an excerpt.
DEVSTACK_NEUTRON_CONF = """[DEFAULT]
state_path = /opt/stack/data/neutron
use_syslog = False
core_plugin = ml2
transport_url = rabbit://stackrabbit:secret@10.0.0.5:5672/

[oslo_concurrency]
lock_path = $state_path/lock

[agent]
root_helper_daemon = sudo /usr/local/bin/neutron-rootwrap-daemon /etc/neutron/rootwrap.conf
"""


def _devstack_node(configs: dict[str, str]):
    """The lab node's replay with its state files under `state_path` and the given configs."""
    state_path = "/opt/stack/data/neutron/"
    replay = replay_runner(LAB29 / LAB29_HOSTS[1], [])

    def run(argv: list[str]) -> tuple[int, str, str]:
        if argv[0] == "cat" and argv[1] in configs:
            return 0, configs[argv[1]], ""
        if argv[0] == "cat" and not argv[1].startswith(state_path):
            return 1, "", f"cat: {argv[1]}: No such file or directory"
        return replay(argv)

    return run


def test_the_state_path_is_the_l3_agents_own_when_not_given() -> None:
    """DevStack keeps the state files in /opt/stack/data/neutron: read there, they verify."""
    run = _devstack_node({"/etc/neutron/neutron.conf": DEVSTACK_NEUTRON_CONF})
    doc = collect_node(run, {"namespaces": L3_NAMESPACES})
    exp = build_expectations(load_snapshot(LAB29 / "api"))
    findings = run_node_checks(exp, {LAB29_HOSTS[1]: parse_node(doc)})
    states = {f.status for f in findings if f.check in ("rfp.state_file", "fip.priority_state")}
    assert states and states <= {Status.PASS}
    state = doc["l3_agent_state"]
    assert state["state_path"] == "/opt/stack/data/neutron" and doc["errors"] == []
    assert state["state_path_source"] == "/etc/neutron/neutron.conf"


def test_the_l3_agent_ini_wins_and_an_explicit_state_path_wins_over_both() -> None:
    ini = "[DEFAULT]\n# written by the operator\nstate_path = /opt/stack/data/neutron/\n"
    configs = {
        "/etc/neutron/neutron.conf": "[DEFAULT]\nstate_path = /var/lib/neutron\n",
        "/etc/neutron/l3_agent.ini": ini,
    }
    run = _devstack_node(configs)
    state = collect_node(run, {"namespaces": L3_NAMESPACES})["l3_agent_state"]
    assert (state["state_path"], state["state_path_source"]) == (
        "/opt/stack/data/neutron",
        "/etc/neutron/l3_agent.ini",
    )
    options = {"namespaces": L3_NAMESPACES, "state_path": "/srv/neutron"}
    given = collect_node(run, options)["l3_agent_state"]
    assert (given["state_path"], given["state_path_source"]) == ("/srv/neutron", "option")
    assert given["fip_priorities"]["status"] == "missing"


def test_an_unparseable_config_is_listed_and_the_default_used() -> None:
    run = _devstack_node({"/etc/neutron/neutron.conf": "state_path = /opt/stack/data/neutron\n"})
    doc = collect_node(run, {"namespaces": L3_NAMESPACES})
    assert doc["l3_agent_state"]["state_path_source"] == "default"
    assert doc["errors"][0]["what"].startswith("l3 agent config /etc/neutron/neutron.conf: ")
