"""Family 7 (DVR MAC): each host's own DVR MAC and its peers' MACs, as the OVS agent programs them.

Source: neutron/plugins/ml2/drivers/openvswitch/agent/ovs_dvr_neutron_agent.py
(setup_dvr_flows_on_integ_br, _add_dvr_mac_for_phys_br / _add_dvr_mac_for_tun_br,
process_dvr_port: DVR_PROCESS `dl_src=<qr MAC> -> mod_dl_src:<own DVR MAC>`),
neutron_lib/plugins/ml2/ovs_constants.py (table numbers). The DVR MACs are not in the API.
"""

from __future__ import annotations

from dvr_verify.checks.common import At, Findings, Nodes
from dvr_verify.expect import Expectations
from dvr_verify.model import NodeObservation

BR_INT = "br-int"
LOCAL_SWITCHING = 0
OWN_MAC_PRIORITY = 5  # br-int table 0: dl_dst=<own DVR MAC> -> ARP_DVR_MAC_TO_DST_MAC
OTHER_MAC_PRIORITIES = (2, 4)  # br-int table 0: dl_src=<other host's MAC> (tunnel / vlan)
DVR_PROCESS_TABLES = (1,)  # br-tun DVR_PROCESS, br-phys DVR_PROCESS_PHYSICAL
HINT = "ovs-ofctl dump-flows br-int table=0"


def own_macs(node: NodeObservation) -> set[str]:
    return {
        f.match["dl_dst"].lower()
        for f in node.ovs.flows_in(BR_INT, LOCAL_SWITCHING)
        if f.priority == OWN_MAC_PRIORITY and "dl_dst" in f.match
    }


def other_macs(node: NodeObservation) -> set[str]:
    return {
        f.match["dl_src"].lower()
        for f in node.ovs.flows_in(BR_INT, LOCAL_SWITCHING)
        if f.priority in OTHER_MAC_PRIORITIES and "dl_src" in f.match
    }


def _rewrites(node: NodeObservation) -> dict[str, set[str]]:
    """qr MAC -> DVR MACs it is rewritten to on the way out (DVR_PROCESS on br-tun / br-phys)."""
    out: dict[str, set[str]] = {}
    for flow in node.ovs.flows:
        if flow.bridge == BR_INT or flow.table not in DVR_PROCESS_TABLES:
            continue
        src = flow.match.get("dl_src")
        for action in flow.actions:
            if src and action.startswith("mod_dl_src:"):
                out.setdefault(src.lower(), set()).add(action.split(":", 1)[1].lower())
    return out


def check_dvr_macs(exp: Expectations, nodes: Nodes) -> list:
    """One own MAC per host, unique across hosts, known as 'other' on every other collected host."""
    fin = Findings()
    own = _own_macs(fin, nodes)
    for mac, hosts in sorted(_owners(own).items()):
        fin.verdict(
            "dvr_mac.unique",
            len(hosts) == 1,
            mac,
            expected="used by one host",
            observed=", ".join(hosts),
            hint=HINT,
        )
    for host, node in sorted(nodes.items()):
        if host in own:
            _peer_check(fin.at(host, None, host), node, own)
            _rewrite_check(fin, exp, node, host, own[host])
    return fin.items


def _own_macs(fin: Findings, nodes: Nodes) -> dict[str, str]:
    """host -> its one own DVR MAC, for the hosts whose OVS state shows exactly one."""
    own: dict[str, str] = {}
    for host, node in sorted(nodes.items()):
        at = fin.at(host, None, host)
        if not node.ovs.available:
            at.not_verified(
                "dvr_mac.own", "OVS not collected: " + "; ".join(node.ovs.errors), cmd=HINT
            )
            continue
        macs = own_macs(node)
        if at.verdict(
            "dvr_mac.own",
            len(macs) == 1,
            expected="one own DVR MAC",
            observed=", ".join(sorted(macs)) or "none",
            device=BR_INT,
            cmd=HINT,
        ):
            own[host] = next(iter(macs))
    return own


def _owners(own: dict[str, str]) -> dict[str, list[str]]:
    owners: dict[str, list[str]] = {}
    for host, mac in own.items():
        owners.setdefault(mac, []).append(host)
    return owners


def _peer_check(at: At, node: NodeObservation, own: dict[str, str]) -> None:
    """The host knows every other host's own MAC as 'other', and not its own."""
    others = other_macs(node)
    missing = sorted(f"{m} ({h})" for h, m in own.items() if h != at.host and m not in others)
    at.verdict(
        "dvr_mac.others",
        not missing,
        expected="every other collected host's DVR MAC",
        observed="missing " + ", ".join(missing) if missing else "all present",
        device=BR_INT,
        cmd=HINT,
    )
    if own[at.host] in others:
        at.fail(
            "dvr_mac.others",
            expected="own MAC not listed as another host's",
            observed=own[at.host],
            device=BR_INT,
            cmd=HINT,
        )


def _rewrite_check(
    fin: Findings, exp: Expectations, node: NodeObservation, host: str, mac: str
) -> None:
    rewrites = _rewrites(node)
    for router in exp.routers.values():
        if node.ns(router.qrouter_ns) is None:
            continue
        for port in router.interface_ports:
            targets = rewrites.get(port.mac, set())
            fin.verdict(
                "dvr_mac.process",
                targets == {mac},
                f"router {router.id}",
                expected=f"dl_src={port.mac} -> mod_dl_src:{mac}",
                observed=", ".join(sorted(targets)) or "no DVR_PROCESS rewrite",
                node=host,
                hint="ovs-ofctl dump-flows br-vlan table=1 (br-tun on tunnel networks)",
            )
