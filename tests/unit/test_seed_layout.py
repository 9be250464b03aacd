"""The runbook's Mitaka-era layout (tests/fixtures/seed/), built as model objects from its values.

Its node-12 had the floating IP as /32 on rfp- (neutron < 9.0.0); current releases do not. The
checks accept what the release does: the FIP /32 of the router's own floating IP is not a fault,
any other extra address on rfp- is.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Any

from dvr_verify.checks.fip_namespace import check_fip_namespaces
from dvr_verify.checks.router_link import check_router_links
from dvr_verify.expect import (
    Agent,
    Expectations,
    FixedIP,
    FloatingIPExpectation,
    Network,
    Placement,
    Port,
    RouterExpectation,
    Subnet,
    namespace_expectations,
)
from dvr_verify.findings import Status
from dvr_verify.model import Address, Link, Namespace, Neighbour, NodeObservation, OvsState, Route

HOST = "node-12.example.local"
ROUTER = "517ba029-f811-4af8-9cfd-6cef0babd1d1"
EXT = "cb1f1abb-443c-49df-b863-ba4cebf10d18"
EXT_SUBNET = "1f06f938-b005-4be2-af8d-2447cfda8716"
FG_PORT = Port(
    id="73de653f-c4b7-41aa-adbf-478fc9ba5cd3",
    network_id=EXT,
    mac="fa:16:3e:6f:c7:c5",
    fixed_ips=(FixedIP(EXT_SUBNET, ipaddress.ip_address("172.30.89.129")),),
    device_owner="network:floatingip_agent_gateway",
    device_id="c706e875-6e71-48e5-a6df-0b3e46902e22",
    host=HOST,
    status="ACTIVE",
)
ip = ipaddress.ip_address


def link(name: str, index: int, mac: str, peer: int | None = None) -> Link:
    return Link(name, index, "veth" if peer else None, mac, 1500, "UP", ("UP",), peer, 0)


def addr(dev: str, iface: str) -> Address:
    return Address(dev, ipaddress.ip_interface(iface), "global")


def veth_side(
    name: str,
    veth: Link,
    device: Link,
    others: tuple[Address, ...],
    pair: tuple[str, str, str],
    **kw: Any,
) -> Namespace:
    """An ok namespace with one end `veth` of the rfp/fpr pair and `device`.

    `pair` is (the end's /31, the other end's address, its MAC): the /31 comes first among the
    addresses, then `others`, and the other end is a PERMANENT neighbour on `veth`.
    """
    own, peer_ip, peer_mac = pair
    return Namespace(
        name=name,
        status="ok",
        links=(veth, device),
        addresses=(addr(veth.name, own), *others),
        neighbours=(Neighbour(ip(peer_ip), veth.name, peer_mac, ("PERMANENT",)),),
        **kw,
    )


def seed_api() -> Expectations:
    """What the runbook's API shows: router04, its floating IP on node-12, the external net."""
    router = RouterExpectation(
        id=ROUTER,
        name="router04",
        distributed=True,
        ha=False,
        ext_net_id=EXT,
        enable_snat=True,
        gateway_port=None,
        interface_ports=(),
        snat_ports=(),
        snat_hosts=(),
        hosts=frozenset({HOST}),
        maybe_hosts=frozenset(),
    )
    fip = FloatingIPExpectation(
        id="5ea07d36-5d76-4594-a98d-75d5fcf45cf5",
        address=ip("172.30.89.140"),
        fixed_ip=ip("10.0.111.9"),
        port=None,
        host=HOST,
        router_id=ROUTER,
        ext_net_id=EXT,
        status="ACTIVE",
        placement=Placement.DISTRIBUTED,
        fg_port=FG_PORT,
    )
    exp = Expectations(
        routers={ROUTER: router},
        fips=(fip,),
        networks={EXT: Network(EXT, "admin_floating_net", 1500, True)},
        subnets={
            EXT_SUBNET: Subnet(
                EXT_SUBNET, EXT, ipaddress.ip_network("172.30.0.0/17"), ip("172.30.0.1")
            )
        },
        l3_agents={HOST: Agent("2c544bff", HOST, "L3 agent", True, True, {"agent_mode": "dvr"})},
        ovs_agents={},
        fg_ports={(EXT, HOST): FG_PORT},
    )
    return replace(exp, namespaces=namespace_expectations(exp))


def seed(rfp_extra: str = "172.30.89.140/32") -> tuple[Expectations, dict[str, NodeObservation]]:
    """The seed's expectations and node-12, with `rfp_extra` as the second address on rfp-."""
    rfp, fpr = "rfp-517ba029-f", "fpr-517ba029-f"
    rfp_mac, fpr_mac = "16:e4:28:ad:c7:62", "6a:41:cd:d4:c5:c8"
    qrouter = veth_side(
        f"qrouter-{ROUTER}",
        link(rfp, 2, rfp_mac, peer=3),
        link("qr-22378d26-ea", 47, "fa:16:3e:b0:bc:f0"),
        (addr(rfp, rfp_extra), addr("qr-22378d26-ea", "10.0.111.1/24")),
        ("169.254.106.114/31", "169.254.106.115", fpr_mac),
        routes=(Route(4, "16", "default", ip("169.254.106.115"), rfp, "static", "unicast"),),
    )
    fip_ns = veth_side(
        f"fip-{EXT}",
        link(fpr, 3, fpr_mac, peer=2),
        link("fg-73de653f-c4", 22, "fa:16:3e:6f:c7:c5"),
        (addr("fg-73de653f-c4", "172.30.89.129/17"),),
        ("169.254.106.115/31", "169.254.106.114", rfp_mac),
    )
    node = NodeObservation(
        host=HOST,
        namespaces={qrouter.name: qrouter, fip_ns.name: fip_ns},
        ovs=OvsState(available=False),
        fip_linklocal=None,
        fip_priorities=None,
    )
    return seed_api(), {HOST: node}


def verdicts(findings, check: str) -> set[Status]:
    return {f.status for f in findings if f.check == check}


def test_mitaka_fip_on_rfp_is_accepted() -> None:
    findings = check_router_links(*seed())
    assert verdicts(findings, "rfp.address") == {Status.PASS}
    assert verdicts(findings, "rfp.veth_pair") == {Status.PASS}
    assert verdicts(findings, "rfp.state_file") == {Status.NOT_VERIFIED}


def test_foreign_address_on_rfp_fails() -> None:
    findings = check_router_links(*seed(rfp_extra="172.30.89.150/32"))
    bad = [f for f in findings if f.check == "rfp.address" and f.failed]
    assert bad and bad[0].device == "rfp-517ba029-f"
    assert "172.30.89.150/32" in bad[0].observed


def test_seed_fg_matches_its_gateway_port() -> None:
    findings = check_fip_namespaces(*seed())
    assert verdicts(findings, "fg.mac") == {Status.PASS}
    assert verdicts(findings, "fg.addresses") == {Status.PASS}
    # The runbook shows no sysctls: those verdicts are 'not verified', never a silent pass.
    assert verdicts(findings, "fg.proxy_arp") == {Status.NOT_VERIFIED}
