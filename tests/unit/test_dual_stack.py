"""IPv6 next to IPv4, as on DevStack's default `public` and `private` networks (dual stack).

The real Neutron 29 capture (fixtures/neutron-29-lab) made dual stack the way Neutron 29 does it:
the API as after `openstack subnet create --ip-version 6` on both networks and `router add
subnet` of the IPv6 one (a second, IPv6-only qr port; one csnat port for the network's IPv6
subnets; the gateway and fg ports get an address of the external IPv6 subnet), the nodes as the
L3 and OVS agents then plumb them (neutron/agent/l3/dvr_local_router.py _set_subnet_arp_info
pins IPv6 ports as PERMANENT too; interface.init_l3 puts every fixed IP on qr-/qg-/sg-/fg-;
ovs_dvr_neutron_agent.py installs DVR_PROCESS for IPv6 router ports as well).
"""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

import pytest
from capture_loader import LAB29, LAB29_HOSTS, load_capture

from dvr_verify.checks import run_node_checks
from dvr_verify.checks.dataplane import check_dataplane
from dvr_verify.expect import build_expectations, load_snapshot
from dvr_verify.findings import Status
from dvr_verify.model import parse_node
from dvr_verify.probes import (
    EgressCapture,
    ProbeResults,
    Traceroute,
    parse_tcpdump_e,
    parse_traceroute,
)
from dvr_verify.provision import Provisioned, ProvisionedVM
from dvr_verify.rundir import RunSettings, probe_plan

EXT = "23ee3d3c-4d08-4331-8c9e-14579ebe3485"
NET = "951d0ba8-00c6-4e52-b220-ca0bf15960e4"
ROUTER = "b0853bf0-1485-48a3-8d0d-f4f684bca6f8"
QR4 = "7e7c4608-4c2f-496b-a366-334ca0758504"
FIP = "172.30.89.152"
# DevStack's defaults: IPV6_PUBLIC_RANGE 2001:db8::/64 with gateway 2001:db8::2 (on br-ex),
# IPV6_PRIVATE_RANGE fd$IPV6_GLOBAL_ID::/64, SLAAC.
PUBLIC6 = {"id": "0d6b0a8c-6f1e-4c39-9d55-6a1f3e2b7c01", "name": "ipv6-public-subnet",
           "cidr": "2001:db8::/64", "gateway_ip": "2001:db8::2"}  # fmt: skip
PRIVATE6 = {"id": "4f2a9e71-3b8d-4e0c-a6f5-91c7d2e8b402", "name": "ipv6-private-subnet",
            "cidr": "fd12:3456:789a:1::/64",
            "gateway_ip": "fd12:3456:789a:1::1", "ipv6_ra_mode": "slaac",
            "ipv6_address_mode": "slaac"}  # fmt: skip
QR6 = {"id": "c0ffee00-6a6a-4b4b-8c8c-0123456789ab", "mac_address": "fa:16:3e:06:06:01"}
SG6 = {"id": "5ca7ee00-6a6a-4b4b-8c8c-0123456789ab", "mac_address": "fa:16:3e:06:06:02"}


def eui64(cidr: str, mac: str) -> str:
    """The SLAAC address Neutron gives a port (neutron_lib ipv6_utils.get_ipv6_addr_by_EUI64)."""
    octets = [int(b, 16) for b in mac.split(":")]
    octets[0] ^= 0x02
    iid = bytes([*octets[:3], 0xFF, 0xFE, *octets[3:]])
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + int.from_bytes(iid, "big"))


def _subnet(base: dict[str, Any], network_id: str, extra: dict[str, Any]) -> dict[str, Any]:
    sub = copy.deepcopy(base)
    sub.update({"network_id": network_id, "ip_version": 6})
    sub.update({"allocation_pools": [], "ipv6_ra_mode": None, "ipv6_address_mode": None})
    sub.update(extra)
    return sub


def _port(base: dict[str, Any], extra: dict[str, Any], subnet: dict[str, Any], ip: str) -> dict:
    port = copy.deepcopy(base)
    port.update(extra)
    port["fixed_ips"] = [{"subnet_id": subnet["id"], "ip_address": ip}]
    return port


def dual_stack_api() -> dict[str, Any]:
    """The capture's API with an IPv6 subnet on the external and on the tenant network."""
    snap = copy.deepcopy(load_snapshot(LAB29 / "api"))
    v4 = {s["network_id"]: s for s in snap["subnets"]}
    public6, private6 = _subnet(v4[EXT], EXT, PUBLIC6), _subnet(v4[NET], NET, PRIVATE6)
    snap["subnets"] = [public6, *snap["subnets"], private6]  # the external IPv6 one first
    ports = {p["id"]: p for p in snap["ports"]}
    for port in snap["ports"]:
        if port["network_id"] == EXT and port["device_owner"] != "network:floatingip":
            port["fixed_ips"].append({"subnet_id": public6["id"], "ip_address": _v6(port)})
        elif port["device_owner"].startswith("compute:"):
            ip = eui64(private6["cidr"], port["mac_address"])
            port["fixed_ips"].append({"subnet_id": private6["id"], "ip_address": ip})
    snat4 = next(p for p in snap["ports"] if p["device_owner"] == "network:router_centralized_snat")
    snap["ports"] += [
        _port(ports[QR4], QR6, private6, private6["gateway_ip"]),
        _port(snat4, SG6, private6, eui64(private6["cidr"], SG6["mac_address"])),
    ]
    return snap


def _v6(port: dict[str, Any]) -> str:
    return eui64(PUBLIC6["cidr"], port["mac_address"])


def _inet6(ip: str) -> dict[str, Any]:
    return {"family": "inet6", "local": ip, "prefixlen": 64, "scope": "global"}


def _ns(doc: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    return next((n for n in doc["namespaces"] if n["name"].startswith(prefix)), None)


def _add_address(ns: dict[str, Any], dev: str, ip: str) -> None:
    next(a for a in ns["addresses"] if a["ifname"] == dev)["addr_info"].append(_inet6(ip))


def _clone_device(ns: dict[str, Any], like: str, name: str, mac: str, ip: str) -> None:
    """A device of the same kind as `like`, with its own name, MAC, index and address."""
    index = 1 + max(lk["ifindex"] for lk in ns["links"])
    for key in ("links", "addresses"):
        clone = copy.deepcopy(next(x for x in ns[key] if x["ifname"] == like))
        clone.update({"ifname": name, "address": mac, "ifindex": index})
        if key == "addresses":
            clone["addr_info"] = [_inet6(ip)]
        ns[key].append(clone)


def _plumb_router(doc: dict[str, Any], api: dict[str, Any]) -> None:
    """qrouter-: the IPv6 qr- with PERMANENT entries for the subnet's ports; its DVR_PROCESS."""
    qrouter = _ns(doc, f"qrouter-{ROUTER}")
    if qrouter is None:
        return
    qr6 = ("qr-" + QR6["id"])[:14]
    _clone_device(qrouter, ("qr-" + QR4)[:14], qr6, QR6["mac_address"], PRIVATE6["gateway_ip"])
    for port in api["ports"]:
        for fixed in port["fixed_ips"]:
            if fixed["subnet_id"] == PRIVATE6["id"] and port["id"] != QR6["id"]:
                entry = {"dst": fixed["ip_address"], "dev": qr6, "state": ["PERMANENT"]}
                qrouter["neighbours"].append({**entry, "lladdr": port["mac_address"]})
    for bridge in doc["ovs"]["bridges"]:
        qr4_mac = next(p["mac_address"] for p in api["ports"] if p["id"] == QR4)
        rewrites = [f for f in bridge["flows"] if f["match"].get("dl_src") == qr4_mac]
        for flow in rewrites:
            bridge["flows"].append(
                {**flow, "match": {**flow["match"], "dl_src": QR6["mac_address"]}}
            )


def _plumb_external(doc: dict[str, Any], api: dict[str, Any]) -> None:
    """qg- (snat-), sg- of the IPv6 subnet (snat-) and fg- (fip-) get their IPv6 addresses."""
    v6 = {
        p["id"]: f["ip_address"]
        for p in api["ports"]
        for f in p["fixed_ips"]
        if ":" in f["ip_address"]
    }
    snat = _ns(doc, f"snat-{ROUTER}")
    if snat is not None:
        gateway = next(
            p["id"] for p in api["ports"] if p["device_owner"] == "network:router_gateway"
        )
        _add_address(snat, ("qg-" + gateway)[:14], v6[gateway])
        sg4 = next(lk["ifname"] for lk in snat["links"] if lk["ifname"].startswith("sg-"))
        _clone_device(snat, sg4, ("sg-" + SG6["id"])[:14], SG6["mac_address"], v6[SG6["id"]])
    fip = _ns(doc, f"fip-{EXT}")
    if fip is not None:
        fg = next(lk["ifname"] for lk in fip["links"] if lk["ifname"].startswith("fg-"))
        port = next(p for p in v6 if ("fg-" + p)[:14] == fg)
        _add_address(fip, fg, v6[port])


def dual_stack_nodes(api: dict[str, Any]) -> dict[str, Any]:
    """The capture's nodes as the agents plumb the dual-stack API."""
    docs = {h: load_capture(LAB29 / h) for h in LAB29_HOSTS}
    for doc in docs.values():
        _plumb_router(doc, api)
        _plumb_external(doc, api)
    return docs


def _findings(api: dict[str, Any], docs: dict[str, Any]) -> list:
    nodes = {h: parse_node(d) for h, d in docs.items()}
    return run_node_checks(build_expectations(api), nodes)


def test_node_checks_pass_on_a_dual_stack_router_and_check_its_ipv6_port() -> None:
    api = dual_stack_api()
    findings = _findings(api, dual_stack_nodes(api))
    assert [f for f in findings if f.failed or f.status is Status.WARN] == []
    qr6 = ("qr-" + QR6["id"])[:14]
    checked = {(f.check, f.node) for f in findings if f.device == qr6 and f.status is Status.PASS}
    for host in LAB29_HOSTS:
        assert {("qr.device", host), ("qr.device_address", host), ("qr.neighbour", host)} <= checked


def test_a_lost_ipv6_permanent_entry_still_fails() -> None:
    api = dual_stack_api()
    docs = dual_stack_nodes(api)
    qrouter = _ns(docs[LAB29_HOSTS[1]], f"qrouter-{ROUTER}")
    assert qrouter is not None
    qrouter["neighbours"] = [n for n in qrouter["neighbours"] if ":" not in n["dst"]]
    failed = {(f.check, f.node) for f in _findings(api, docs) if f.failed}
    assert failed == {("qr.neighbour", LAB29_HOSTS[1])}


def one_dual_stack_qr_port() -> dict[str, Any]:
    """`router add port` of a port on both subnets: one qr port, its IPv6 address listed first."""
    api = dual_stack_api()
    api["ports"] = [p for p in api["ports"] if p["id"] != QR6["id"]]
    qr = next(p for p in api["ports"] if p["id"] == QR4)
    qr["fixed_ips"].insert(0, {"subnet_id": PRIVATE6["id"], "ip_address": PRIVATE6["gateway_ip"]})
    return api


def lab_probes() -> ProbeResults:
    """The capture's traceroutes and upstream frames of its two VMs (vm2 has no FIP)."""
    probes = LAB29 / "probes"
    frames = parse_tcpdump_e((probes / "tcpdump-e-upstream-icmp.txt").read_text())
    vm1, vm2, fip = (ipaddress.IPv4Address(a) for a in ("10.0.111.251", "10.0.111.135", FIP))
    gateway = ipaddress.IPv4Address("172.30.0.1")
    out = [f for f in frames if f.dst_ip == gateway]
    trace = {vm: parse_traceroute((probes / f"traceroute-{f}.txt").read_text())
             for vm, f in (("vm1", "vm-with-fip"), ("vm2", "vm2-without-fip"))}  # fmt: skip
    return ProbeResults(
        egress=(
            EgressCapture("vm1", vm1, fip, tuple(f for f in out if f.src_ip == fip)),
            EgressCapture("vm2", vm2, None, tuple(f for f in out if f.src_ip != fip)),
        ),
        traceroutes=(
            Traceroute("vm1", vm1, gateway, trace["vm1"]),
            Traceroute("vm2", vm2, gateway, trace["vm2"]),
        ),
    )


@pytest.mark.parametrize("api", [dual_stack_api, one_dual_stack_qr_port], ids=["two", "one"])
def test_data_plane_checks_pass_with_ipv6_router_ports(api) -> None:
    nodes = {h: parse_node(load_capture(LAB29 / h)) for h in LAB29_HOSTS}
    findings = check_dataplane(build_expectations(api()), lab_probes(), nodes)
    assert {f.check for f in findings} == {"egress.source", "trace.path"}
    assert [f.line() for f in findings if f.status is not Status.PASS] == []
    assert len(findings) == 4


def test_the_traceroute_goes_to_the_ipv4_gateway_of_a_dual_stack_external_network(
    tmp_path,
) -> None:
    api = dual_stack_api()
    assert api["subnets"][0]["network_id"] == EXT and api["subnets"][0]["ip_version"] == 6
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "subnets.json").write_text(json.dumps({"subnets": api["subnets"]}))
    vm = ProvisionedVM("vm1", LAB29_HOSTS[1], "p1", "dev", "fa:16:3e:00:00:01", "10.0.111.5",
                       24, "10.0.111.1", 1500, FIP, "f1")  # fmt: skip
    plan = probe_plan(tmp_path, Provisioned("r", "t", external_network_id=EXT, vms=[vm]),
                      RunSettings("r", "c"))  # fmt: skip
    v4 = next(s for s in api["subnets"] if s["network_id"] == EXT and s["ip_version"] == 4)
    assert plan["trace_to"] == [v4["gateway_ip"]]


def test_a_gateway_without_ipv4_address_gives_no_snat_verdict_instead_of_a_crash() -> None:
    """An IPv6-only external network: no IPv4 address to SNAT a VM without FIP to."""
    api = dual_stack_api()
    gateway = next(p for p in api["ports"] if p["device_owner"] == "network:router_gateway")
    gateway["fixed_ips"] = [f for f in gateway["fixed_ips"] if ":" in f["ip_address"]]
    findings = check_dataplane(build_expectations(api), lab_probes(), {})
    assert [f.subject for f in findings if f.check == "egress.source"] == [FIP]
