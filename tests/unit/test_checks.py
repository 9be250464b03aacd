"""Every check family passes on the real Neutron 29 capture and fails on it broken one way.

Breakages edit the real collector documents the way a fault would change the node (a sysctl
reset, a rule deleted, an address removed ...); nothing here invents an output shape.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from capture_loader import LAB29, LAB29_HOSTS, load_capture

from dvr_verify.checks import NODE_CHECKS, fg_ports_in_use, run_node_checks
from dvr_verify.expect import build_expectations, load_snapshot
from dvr_verify.findings import Finding, Status
from dvr_verify.model import parse_node

NET = "network-node"
CMP = "compute"
HOSTS = {NET: LAB29_HOSTS[0], CMP: LAB29_HOSTS[1]}
ROUTER = "b0853bf0-1485-48a3-8d0d-f4f684bca6f8"
EXT = "23ee3d3c-4d08-4331-8c9e-14579ebe3485"
QROUTER = f"qrouter-{ROUTER}"
SNAT = f"snat-{ROUTER}"
FIP_NS = f"fip-{EXT}"
FG_CMP = "fg-b7803143-75"
RFP = "rfp-b0853bf0-1"
FPR = "fpr-b0853bf0-1"
QR = "qr-7e7c4608-4c"
QG = "qg-b3e48229-13"
SG = "sg-50156f9c-a4"
# The SNAT redirect table: Neutron numbers it by the qr address (int of 10.0.111.1).
SNAT_TABLE = "167800577"

_DOCS = {h: load_capture(LAB29 / h) for h in LAB29_HOSTS}
_SNAPSHOT = load_snapshot(LAB29 / "api")


def run(docs: dict[str, Any], snapshot: dict[str, Any] | None = None) -> list[Finding]:
    nodes = {h: parse_node(d) for h, d in docs.items()}
    return run_node_checks(build_expectations(snapshot or _SNAPSHOT), nodes)


def ns(docs: dict[str, Any], role: str, name: str) -> dict[str, Any]:
    return next(n for n in docs[HOSTS[role]]["namespaces"] if n["name"] == name)


def drop(items: list[Any], pred: Callable[[Any], bool]) -> None:
    before = len(items)
    items[:] = [i for i in items if not pred(i)]
    assert len(items) < before, "the breakage must remove something real"


def drop_ipt(docs, role, name, table, chain, needle) -> None:
    rules = ns(docs, role, name)["iptables"]["tables"][table]["chains"][chain]["rules"]
    drop(rules, lambda r: needle in r["raw"])


def drop_addr(docs, role, name, dev, prefix) -> None:
    link = next(a for a in ns(docs, role, name)["addresses"] if a["ifname"] == dev)
    drop(link["addr_info"], lambda a: a["local"].startswith(prefix))


def set_addr(docs, role, name, dev, old, new) -> None:
    link = next(a for a in ns(docs, role, name)["addresses"] if a["ifname"] == dev)
    next(a for a in link["addr_info"] if a["local"] == old)["local"] = new


def set_link(docs, role, name, dev, **values) -> None:
    link = next(lk for lk in ns(docs, role, name)["links"] if lk["ifname"] == dev)
    link.update(values)


def drop_link(docs, role, name, dev) -> None:
    n = ns(docs, role, name)
    drop(n["links"], lambda lk: lk["ifname"] == dev)
    drop(n["addresses"], lambda a: a["ifname"] == dev)


def drop_route(docs, role, name, pred) -> None:
    drop(ns(docs, role, name)["routes"]["4"], pred)


def drop_rule(docs, role, name, pred) -> None:
    drop(ns(docs, role, name)["rules"]["4"], pred)


def drop_neigh(docs, role, name, dst) -> None:
    drop(ns(docs, role, name)["neighbours"], lambda n: n["dst"] == dst)


def sysctl(docs, role, name, key, value) -> None:
    sysctls = ns(docs, role, name)["sysctls"]
    assert key in sysctls
    sysctls[key] = value


def drop_namespace(docs, role, name) -> None:
    drop(docs[HOSTS[role]]["namespaces"], lambda n: n["name"] == name)


def copy_namespace(docs, src_role, dst_role, name, rename: str = "") -> None:
    """A copy of namespace `name` of `src_role` on `dst_role`, called `rename` if given."""
    clone = copy.deepcopy(ns(docs, src_role, name))
    if rename:
        clone["name"] = rename
    docs[HOSTS[dst_role]]["namespaces"].append(clone)


def flows(docs, role, bridge) -> list[dict[str, Any]]:
    return next(b for b in docs[HOSTS[role]]["ovs"]["bridges"] if b["name"] == bridge)["flows"]


def fip_table(docs) -> str:
    return next(r["table"] for r in ns(docs, CMP, FIP_NS)["rules"]["4"] if r.get("iif") == FPR)


BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], None], str, str, Status]] = [
    (
        "proxy_arp off on fg",
        lambda d: sysctl(d, CMP, FIP_NS, f"net.ipv4.conf.{FG_CMP}.proxy_arp", "0"),
        "fg.proxy_arp",
        CMP,
        Status.FAIL,
    ),
    (
        "proxy_delay never written (kernel default 80)",
        lambda d: sysctl(d, CMP, FIP_NS, f"net.ipv4.neigh.{FG_CMP}.proxy_delay", "80"),
        "fg.proxy_delay",
        CMP,
        Status.WARN,
    ),
    ("fg device gone", lambda d: drop_link(d, CMP, FIP_NS, FG_CMP), "fg.device", CMP, Status.FAIL),
    (
        "fg MAC differs from the agent gateway port",
        lambda d: set_link(d, CMP, FIP_NS, FG_CMP, address="fa:16:3e:00:00:01"),
        "fg.mac",
        CMP,
        Status.FAIL,
    ),
    (
        "fg address removed",
        lambda d: drop_addr(d, CMP, FIP_NS, FG_CMP, "172.30."),
        "fg.addresses",
        CMP,
        Status.FAIL,
    ),
    (
        "nonlocal bind off in fip",
        lambda d: sysctl(d, CMP, FIP_NS, "net.ipv4.ip_nonlocal_bind", "0"),
        "fg.sysctl",
        CMP,
        Status.FAIL,
    ),
    (
        "default route leaked into fip main table",
        lambda d: ns(d, CMP, FIP_NS)["routes"]["4"].append(
            {
                "dst": "default",
                "gateway": "172.30.0.1",
                "dev": FG_CMP,
                "protocol": "static",
                "flags": [],
            }
        ),
        "fg.no_default_route",
        CMP,
        Status.FAIL,
    ),
    (
        "fpr iif rule deleted",
        lambda d: drop_rule(d, CMP, FIP_NS, lambda r: r.get("iif") == FPR),
        "fg.fpr_rule",
        CMP,
        Status.FAIL,
    ),
    (
        "fpr table lost its default route",
        lambda d: drop_route(d, CMP, FIP_NS, lambda r: r.get("table") == fip_table(d)),
        "fg.fpr_table",
        CMP,
        Status.FAIL,
    ),
    (
        "raw notrack removed",
        lambda d: drop_ipt(d, CMP, FIP_NS, "raw", "neutron-l3-agent-PREROUTING", "--notrack"),
        "fg.notrack",
        CMP,
        Status.WARN,
    ),
    (
        "rfp address removed",
        lambda d: drop_addr(d, CMP, QROUTER, RFP, "169.254."),
        "rfp.address",
        CMP,
        Status.FAIL,
    ),
    (
        "rfp got an odd address",
        lambda d: set_addr(d, CMP, QROUTER, RFP, "169.254.127.192", "169.254.127.193"),
        "rfp.address",
        CMP,
        Status.FAIL,
    ),
    (
        "rfp device deleted",
        lambda d: drop_link(d, CMP, QROUTER, RFP),
        "rfp.device",
        CMP,
        Status.FAIL,
    ),
    (
        "rfp and fpr not one veth",
        lambda d: set_link(d, CMP, QROUTER, RFP, link_index=99),
        "rfp.veth_pair",
        CMP,
        Status.FAIL,
    ),
    (
        "rfp MTU differs from the external network",
        lambda d: set_link(d, CMP, QROUTER, RFP, mtu=1450),
        "rfp.mtu",
        CMP,
        Status.FAIL,
    ),
    (
        "permanent neighbour for fpr gone",
        lambda d: drop_neigh(d, CMP, QROUTER, "169.254.127.193"),
        "rfp.neighbour",
        CMP,
        Status.FAIL,
    ),
    (
        "table 16 default route gone",
        lambda d: drop_route(d, CMP, QROUTER, lambda r: r.get("table") == "16"),
        "rfp.table16",
        CMP,
        Status.FAIL,
    ),
    (
        "agent state file disagrees",
        lambda d: d[HOSTS[CMP]]["l3_agent_state"]["fip_linklocal_networks"]["entries"].__setitem__(
            0, {"router_id": ROUTER, "cidr": "169.254.88.0/31"}
        ),
        "rfp.state_file",
        CMP,
        Status.FAIL,
    ),
    (
        "floating IP route in fip deleted",
        lambda d: drop_route(d, CMP, FIP_NS, lambda r: r.get("dst") == "172.30.89.152"),
        "fip.route",
        CMP,
        Status.FAIL,
    ),
    (
        "floating IP rule deleted",
        lambda d: drop_rule(d, CMP, QROUTER, lambda r: r.get("src") == "10.0.111.251"),
        "fip.rule",
        CMP,
        Status.FAIL,
    ),
    (
        "floating IP priority not in the agent's state",
        lambda d: d[HOSTS[CMP]]["l3_agent_state"]["fip_priorities"]["entries"].pop(0),
        "fip.priority_state",
        CMP,
        Status.FAIL,
    ),
    (
        "DNAT rule deleted",
        lambda d: drop_ipt(d, CMP, QROUTER, "nat", "neutron-l3-agent-PREROUTING", "DNAT"),
        "fip.dnat",
        CMP,
        Status.FAIL,
    ),
    (
        "float-snat rule deleted",
        lambda d: drop_ipt(d, CMP, QROUTER, "nat", "neutron-l3-agent-float-snat", "SNAT"),
        "fip.snat",
        CMP,
        Status.FAIL,
    ),
    (
        "qr device missing on the compute",
        lambda d: drop_link(d, CMP, QROUTER, QR),
        "qr.device",
        CMP,
        Status.FAIL,
    ),
    (
        "qr MAC differs",
        lambda d: set_link(d, NET, QROUTER, QR, address="fa:16:3e:00:00:02"),
        "qr.device_address",
        NET,
        Status.FAIL,
    ),
    (
        "VM's permanent neighbour on qr gone",
        lambda d: drop_neigh(d, CMP, QROUTER, "10.0.111.251"),
        "qr.neighbour",
        CMP,
        Status.FAIL,
    ),
    (
        "SNAT redirect rule deleted",
        lambda d: drop_rule(d, CMP, QROUTER, lambda r: r.get("table") == SNAT_TABLE),
        "snat.redirect_rule",
        CMP,
        Status.FAIL,
    ),
    (
        "SNAT redirect table emptied",
        lambda d: drop_route(d, CMP, QROUTER, lambda r: r.get("table") == SNAT_TABLE),
        "snat.redirect_table",
        CMP,
        Status.FAIL,
    ),
    (
        "sg neighbour on qr gone",
        lambda d: drop_neigh(d, CMP, QROUTER, "10.0.111.187"),
        "snat.sg_neighbour",
        CMP,
        Status.FAIL,
    ),
    (
        "sg device missing in snat",
        lambda d: drop_link(d, NET, SNAT, SG),
        "snat.sg",
        NET,
        Status.FAIL,
    ),
    (
        "qg address removed",
        lambda d: drop_addr(d, NET, SNAT, QG, "172.30.89.193"),
        "snat.qg_address",
        NET,
        Status.FAIL,
    ),
    (
        "snat default route gone",
        lambda d: drop_route(d, NET, SNAT, lambda r: r.get("dst") == "default"),
        "snat.default_route",
        NET,
        Status.FAIL,
    ),
    (
        "SNAT rule deleted",
        lambda d: drop_ipt(d, NET, SNAT, "nat", "neutron-l3-agent-snat", f"-o {QG} -j SNAT"),
        "snat.rule",
        NET,
        Status.FAIL,
    ),
    (
        "fip namespace missing on the compute",
        lambda d: drop_namespace(d, CMP, FIP_NS),
        "placement.namespace",
        CMP,
        Status.FAIL,
    ),
    (
        "second snat namespace on the compute",
        lambda d: copy_namespace(d, NET, CMP, SNAT),
        "placement.namespace",
        CMP,
        Status.FAIL,
    ),
    (
        "stale qrouter of an unknown router",
        lambda d: copy_namespace(d, CMP, CMP, QROUTER, "qrouter-00000000-0000-0000-0000-0000"),
        "placement.stale",
        CMP,
        Status.WARN,
    ),
    (
        "send_redirects on in qrouter",
        lambda d: sysctl(d, CMP, QROUTER, "net.ipv4.conf.all.send_redirects", "1"),
        "sysctl",
        CMP,
        Status.FAIL,
    ),
    (
        "tcp_loose on in snat",
        lambda d: sysctl(d, NET, SNAT, "net.netfilter.nf_conntrack_tcp_loose", "1"),
        "sysctl",
        NET,
        Status.FAIL,
    ),
    (
        "own DVR MAC flows gone",
        lambda d: drop(flows(d, CMP, "br-int"), lambda f: f["table"] == 0 and f["priority"] == 5),
        "dvr_mac.own",
        CMP,
        Status.FAIL,
    ),
    (
        "peer DVR MAC unknown",
        lambda d: drop(flows(d, CMP, "br-int"), lambda f: f["table"] == 0 and f["priority"] == 4),
        "dvr_mac.others",
        CMP,
        Status.FAIL,
    ),
    (
        "two hosts share one DVR MAC",
        lambda d: [
            f["match"].__setitem__("dl_dst", "fa:16:3f:9e:52:68")
            for f in flows(d, NET, "br-int")
            if f["table"] == 0 and f["priority"] == 5
        ],
        "dvr_mac.unique",
        "",
        Status.FAIL,
    ),
    (
        "qr MAC not rewritten to the DVR MAC",
        lambda d: drop(
            flows(d, CMP, "br-vlan"),
            lambda f: any(a.startswith("mod_dl_src:") for a in f["actions"]),
        ),
        "dvr_mac.process",
        CMP,
        Status.FAIL,
    ),
    (
        "fg connected route gone",
        lambda d: drop_route(d, CMP, FIP_NS, lambda r: r.get("dst") == "172.30.0.0/17"),
        "fg.connected_route",
        CMP,
        Status.FAIL,
    ),
    (
        "fpr in another /31 than rfp",
        lambda d: set_addr(d, CMP, FIP_NS, FPR, "169.254.127.193", "169.254.127.195"),
        "rfp.same_31",
        CMP,
        Status.FAIL,
    ),
    (
        "default route in qrouter main table",
        lambda d: ns(d, CMP, QROUTER)["routes"]["4"].append(
            {"dst": "default", "gateway": "169.254.127.193", "dev": RFP, "flags": []}
        ),
        "rfp.no_main_default",
        CMP,
        Status.FAIL,
    ),
    (
        "two routers share one link-local /31",
        lambda d: copy_namespace(d, CMP, CMP, QROUTER, "qrouter-11111111-1111-1111-1111-1111"),
        "rfp.unique_31",
        CMP,
        Status.FAIL,
    ),
    (
        "qg device in qrouter",
        lambda d: ns(d, CMP, QROUTER)["links"].append(
            {**copy.deepcopy(ns(d, NET, SNAT)["links"][-1]), "ifname": QG}
        ),
        "qr.no_qg",
        CMP,
        Status.FAIL,
    ),
    (
        "qg device missing in snat",
        lambda d: drop_link(d, NET, SNAT, QG),
        "snat.qg",
        NET,
        Status.FAIL,
    ),
    (
        "sg MAC differs from its port",
        lambda d: set_link(d, NET, SNAT, SG, address="fa:16:3e:00:00:03"),
        "snat.sg_address",
        NET,
        Status.FAIL,
    ),
]


def test_real_capture_passes_every_check() -> None:
    findings = run(copy.deepcopy(_DOCS))
    bad = [f.line() for f in findings if f.status is not Status.PASS]
    assert not bad, "\n".join(bad)
    families = {f.check.split(".")[0] for f in findings}
    assert families >= set(NODE_CHECKS), "every family must have produced a verdict"


@pytest.mark.parametrize(
    ("breakage", "check", "role", "status"),
    [pytest.param(b, c, r, s, id=i) for i, b, c, r, s in BREAKAGES],
)
def test_breakage_is_found(breakage, check: str, role: str, status: Status) -> None:
    docs = copy.deepcopy(_DOCS)
    breakage(docs)
    findings = run(docs)
    hits = [f for f in findings if f.check == check and f.status is status]
    assert hits, f"{check} did not report {status.value}"
    if role:
        assert any(f.node == HOSTS[role] for f in hits), [f.line() for f in hits]
    for hit in hits:
        assert hit.expected and hit.observed


def duplicate_fg_port(snapshot: dict[str, Any], host: str) -> tuple[str, str]:
    """A second agent gateway port for `host`, as Neutron's create_fip_agent_gw_port_if_not_exists
    race leaves it (its id sorts first, so the port in use is not the first found); returns the
    ids (in use, duplicate)."""
    real = next(
        p
        for p in snapshot["ports"]
        if p["device_owner"] == "network:floatingip_agent_gateway" and p["binding:host_id"] == host
    )
    dup = {**copy.deepcopy(real), "id": "00000000-0000-4000-8000-000000000001"}
    dup["mac_address"] = "fa:16:3e:00:00:01"
    snapshot["ports"].append(dup)
    return real["id"], dup["id"]


def test_two_agent_gateway_ports_for_one_host_fail_once() -> None:
    """Two routers' first FIPs on a host at once can make Neutron create two agent gateway ports
    for it (seen with two runs at the same time on the lab). `fg.port_unique` names both and the
    one in use; the checks that use the fg- port judge the port the node really has."""
    snapshot = copy.deepcopy(_SNAPSHOT)
    in_use, dup = duplicate_fg_port(snapshot, HOSTS[CMP])
    findings = run(copy.deepcopy(_DOCS), snapshot)
    failed = [f for f in findings if f.failed]
    assert [f.check for f in failed] == ["fg.port_unique"], [f.line() for f in failed]
    assert failed[0].node == HOSTS[CMP]
    assert dup in failed[0].observed and f"in use: {in_use}" in failed[0].observed
    exp = fg_ports_in_use(
        build_expectations(snapshot), {h: parse_node(d) for h, d in _DOCS.items()}
    )
    fip = next(f for f in exp.fips if f.host == HOSTS[CMP])
    assert fip.fg_port is not None and fip.fg_port.id == in_use  # arp.responder's, egress's MAC


def test_every_check_id_can_fail() -> None:
    """Each check id that passes on the capture fails under at least one breakage above (or, for
    API-side faults, a test of its own)."""
    passing = {f.check for f in run(copy.deepcopy(_DOCS))}
    broken = {c for _, _, c, _, _ in BREAKAGES} | {"fg.port_unique"}
    assert passing - broken == set()


def test_host_not_collected_is_not_verified() -> None:
    docs = copy.deepcopy(_DOCS)
    del docs[HOSTS[CMP]]
    findings = run(docs)
    fip = [f for f in findings if f.check.startswith("fip.") and f.subject == "172.30.89.152"]
    assert fip and all(f.status is Status.NOT_VERIFIED for f in fip)
    assert not any(f.failed for f in findings)


def test_vanished_namespace_is_not_verified() -> None:
    docs = copy.deepcopy(_DOCS)
    target = ns(docs, CMP, QROUTER)
    target.update(
        status="vanished",
        links=[],
        addresses=[],
        errors=[
            {
                "what": "links",
                "command": f"ip -n {QROUTER} -j -d link show",
                "rc": 1,
                "stderr": "Cannot open network namespace",
            }
        ],
    )
    findings = run(docs)
    dnat = [f for f in findings if f.check == "fip.namespace"]
    assert dnat and all(f.status is Status.NOT_VERIFIED for f in dnat)
    assert "vanished" in dnat[0].observed


def test_missing_sysctl_is_not_verified() -> None:
    docs = copy.deepcopy(_DOCS)
    del ns(docs, CMP, FIP_NS)["sysctls"][f"net.ipv4.conf.{FG_CMP}.proxy_arp"]
    hits = [f for f in run(docs) if f.check == "fg.proxy_arp"]
    assert {f.status for f in hits if f.node == HOSTS[CMP]} == {Status.NOT_VERIFIED}


def test_finding_carries_runbook_command() -> None:
    docs = copy.deepcopy(_DOCS)
    sysctl(docs, CMP, FIP_NS, f"net.ipv4.conf.{FG_CMP}.proxy_arp", "0")
    hit = next(f for f in run(docs) if f.check == "fg.proxy_arp" and f.failed)
    assert hit.namespace == FIP_NS and hit.device == FG_CMP
    assert hit.hint == f"ip netns exec {FIP_NS} sysctl net.ipv4.conf.{FG_CMP}.proxy_arp"
    assert "observed net.ipv4.conf.fg-b7803143-75.proxy_arp = 0" in hit.line()


def _as_ha(state: str) -> dict[str, Any]:
    """The capture's API with its router made DVR+HA and its SNAT agent in `state`."""
    snapshot = copy.deepcopy(_SNAPSHOT)
    for router in snapshot["routers"]:
        router["ha"] = True
    for agents in snapshot["router_l3_agents"].values():
        for agent in agents:
            agent["ha_state"] = state
    return snapshot


def test_dvr_ha_router_needs_exactly_one_active_agent() -> None:
    standby = [
        f for f in run(copy.deepcopy(_DOCS), _as_ha("standby")) if f.check == "snat.ha_active"
    ]
    assert [f.status for f in standby] == [Status.FAIL]
    assert "=standby" in standby[0].observed and "agent list --router" in standby[0].hint
    active = run(copy.deepcopy(_DOCS), _as_ha("active"))
    assert [f.status for f in active if f.check == "snat.ha_active"] == [Status.PASS]
    assert not [f for f in active if f.failed]
