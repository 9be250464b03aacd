"""Family 6 (placement) and the namespace sysctls: which namespaces exist where, set how.

Sources: neutron/db/l3_dvrscheduler_db.py (_get_dvr_hosts_for_router),
neutron/agent/l3/namespaces.py,
router_info.py / dvr_fip_ns.py / dvr_snat_ns.py (sysctls written at namespace creation).
"""

from __future__ import annotations

from dvr_verify.checks.common import Findings, Nodes
from dvr_verify.expect import Expectations, Presence
from dvr_verify.findings import Status

L3_KINDS = ("qrouter", "snat", "fip")
COMMON_SYSCTLS = {
    "net.ipv4.ip_forward": ("1",),
    "net.ipv4.conf.all.arp_ignore": ("1",),
    "net.ipv4.conf.all.arp_announce": ("2",),
    "net.netfilter.nf_conntrack_tcp_be_liberal": ("1",),
}
KIND_SYSCTLS = {
    "fip": {"net.ipv4.ip_nonlocal_bind": ("1",)},
    "snat": {"net.ipv4.ip_nonlocal_bind": ("1",), "net.netfilter.nf_conntrack_tcp_loose": ("0",)},
}


def check_placement(exp: Expectations, nodes: Nodes) -> list:
    """Required namespaces present, forbidden ones absent, unknown L3 namespaces reported stale."""
    fin = Findings()
    for ns_exp in exp.namespaces:
        node = nodes.get(ns_exp.host)
        subject = f"{ns_exp.host} {ns_exp.name}"
        if node is None:
            if ns_exp.presence is Presence.REQUIRED:
                fin.not_verified(
                    "placement.namespace",
                    subject,
                    "host not collected",
                    node=ns_exp.host,
                    namespace=ns_exp.name,
                )
            continue
        present = ns_exp.name in node.namespaces
        if ns_exp.presence is Presence.REQUIRED:
            fin.verdict(
                "placement.namespace",
                present,
                subject,
                expected=f"present ({ns_exp.reason})",
                observed="present" if present else "missing",
                node=ns_exp.host,
                namespace=ns_exp.name,
                hint="ip netns",
            )
        elif ns_exp.presence is Presence.FORBIDDEN and present:
            # A second snat- answers for the gateway too: a fault. A stray qrouter- is stale.
            severity = Status.FAIL if ns_exp.name.startswith("snat-") else Status.WARN
            fin.add(
                "placement.namespace",
                severity,
                subject,
                node=ns_exp.host,
                namespace=ns_exp.name,
                expected=f"absent ({ns_exp.reason})",
                observed="present",
                hint="ip netns",
            )
    known = {n.name for n in exp.namespaces}
    known |= {r.qrouter_ns for r in exp.routers.values()}
    for host, node in sorted(nodes.items()):
        for name, ns in sorted(node.namespaces.items()):
            if ns.kind in L3_KINDS and name not in known:
                fin.add(
                    "placement.stale",
                    Status.WARN,
                    f"{host} {name}",
                    node=host,
                    namespace=name,
                    expected="no namespace for a router or network the API does not know",
                    observed="present",
                    hint="ip netns",
                )
    return fin.items


def check_sysctls(exp: Expectations, nodes: Nodes) -> list:
    """Sysctls Neutron sets in every qrouter-/snat-/fip- namespace it manages."""
    fin = Findings()
    gateway_routers = {r.qrouter_ns for r in exp.routers.values() if r.ext_net_id}
    for host, node in sorted(nodes.items()):
        for name, ns in sorted(node.namespaces.items()):
            if ns.kind not in L3_KINDS or not ns.ok:
                continue
            wanted = dict(COMMON_SYSCTLS)
            wanted.update(KIND_SYSCTLS.get(ns.kind, {}))
            if name in gateway_routers:
                wanted["net.ipv4.conf.all.send_redirects"] = ("0",)
            at = fin.at(host, ns, f"{host} {name}")
            for key, allowed in wanted.items():
                at.sysctl("sysctl", key, allowed)
    return fin.items
