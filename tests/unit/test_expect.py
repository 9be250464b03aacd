"""Expectations derived from the real API capture, and from it changed the way the API would."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest
from capture_loader import LAB29

from dvr_verify.expect import (
    ExpectationError,
    Placement,
    Presence,
    build_expectations,
    device_name,
    int_of_ip,
    load_snapshot,
)

ROUTER = "b0853bf0-1485-48a3-8d0d-f4f684bca6f8"
EXT = "23ee3d3c-4d08-4331-8c9e-14579ebe3485"
NET, CMP = "node-11.example.local", "node-12.example.local"
SNAPSHOT = load_snapshot(LAB29 / "api")


def snap() -> dict[str, Any]:
    return copy.deepcopy(SNAPSHOT)


def port(s: dict[str, Any], owner: str, host: str | None = None) -> dict[str, Any]:
    return next(
        p
        for p in s["ports"]
        if p["device_owner"] == owner and (host is None or p["binding:host_id"] == host)
    )


def test_device_names_follow_neutron() -> None:
    assert device_name("qr-", "7e7c4608-4c2f-496b-a366-334ca0758504") == "qr-7e7c4608-4c"
    assert device_name("rfp-", ROUTER) == "rfp-b0853bf0-1"
    assert device_name("fpr-", ROUTER) == "fpr-b0853bf0-1"
    assert int_of_ip(ipaddress.ip_address("10.0.111.1")) == 167800577


def test_router_from_capture() -> None:
    exp = build_expectations(snap())
    router = exp.routers[ROUTER]
    assert router.distributed and not router.ha
    assert router.ext_net_id == EXT
    assert router.hosts == {NET, CMP}
    assert [b.host for b in router.snat_hosts] == [NET]
    assert router.gateway_port is not None and router.gateway_port.device("qg-") == "qg-b3e48229-13"
    assert [p.device("qr-") for p in router.interface_ports] == ["qr-7e7c4608-4c"]
    assert [p.device("sg-") for p in router.snat_ports] == ["sg-50156f9c-a4"]
    assert exp.ext_gateway(EXT) == ipaddress.ip_address("172.30.0.1")


def test_fip_from_capture() -> None:
    (fip,) = build_expectations(snap()).fips
    assert str(fip.address) == "172.30.89.152" and str(fip.fixed_ip) == "10.0.111.251"
    assert fip.host == CMP and fip.placement is Placement.DISTRIBUTED
    assert fip.fg_port is not None and fip.fg_port.mac == "fa:16:3e:72:34:1b"
    assert fip.fg_port.device("fg-") == "fg-b7803143-75"


def test_namespace_presence() -> None:
    exp = build_expectations(snap())
    presence = {(n.host, n.name): n.presence for n in exp.namespaces}
    assert presence[(CMP, f"qrouter-{ROUTER}")] is Presence.REQUIRED
    assert presence[(CMP, f"fip-{EXT}")] is Presence.REQUIRED
    assert presence[(NET, f"snat-{ROUTER}")] is Presence.REQUIRED
    assert presence[(CMP, f"snat-{ROUTER}")] is Presence.FORBIDDEN


def test_unbound_port_makes_fip_centralized() -> None:
    s = snap()
    port(s, "compute:nova", CMP)["binding:host_id"] = ""
    for p in s["ports"]:
        if p["device_owner"] == "compute:nova":
            p["binding:host_id"] = ""
    exp = build_expectations(s)
    assert exp.fips[0].placement is Placement.CENTRALIZED
    assert exp.routers[ROUTER].hosts == {NET}  # only the SNAT host keeps qrouter-


def test_dvr_no_external_host_centralizes_fip() -> None:
    s = snap()
    agent = next(a for a in s["agents"] if a["host"] == CMP and a["agent_type"] == "L3 agent")
    agent["configurations"]["agent_mode"] = "dvr_no_external"
    exp = build_expectations(s)
    assert exp.fips[0].placement is Placement.CENTRALIZED
    presence = {(n.host, n.name): n.presence for n in exp.namespaces}
    assert presence[(CMP, f"fip-{EXT}")] is Presence.ALLOWED


def test_host_without_l3_agent_leaves_fip_unplumbed() -> None:
    s = snap()
    s["agents"] = [
        a for a in s["agents"] if not (a["host"] == CMP and a["agent_type"] == "L3 agent")
    ]
    exp = build_expectations(s)
    assert exp.fips[0].placement is Placement.UNPLUMBED
    assert CMP not in exp.routers[ROUTER].hosts


def test_dhcp_port_host_is_allowed_not_required() -> None:
    s = snap()
    dhcp = copy.deepcopy(port(s, "compute:nova", CMP))
    dhcp.update(id="dhcp-port", device_owner="network:dhcp")
    s["ports"] = [p for p in s["ports"] if p["device_owner"] != "compute:nova"] + [dhcp]
    exp = build_expectations(s)
    presence = {(n.host, n.name): n.presence for n in exp.namespaces}
    assert presence[(CMP, f"qrouter-{ROUTER}")] is Presence.ALLOWED  # host_dvr_for_dhcp
    assert presence[(NET, f"qrouter-{ROUTER}")] is Presence.REQUIRED  # the SNAT host


def test_ha_snat_bindings_keep_ha_state() -> None:
    s = snap()
    standby = copy.deepcopy(s["router_l3_agents"][ROUTER][0])
    standby.update(host=CMP, ha_state="standby")
    s["router_l3_agents"][ROUTER][0]["ha_state"] = "active"
    s["router_l3_agents"][ROUTER].append(standby)
    router = build_expectations(s).routers[ROUTER]
    assert router.active_snat_hosts == (NET,)
    assert {b.host for b in router.snat_hosts} == {NET, CMP}


def test_fip_filter() -> None:
    assert build_expectations(snap(), fip_filter=["172.30.89.152"]).fips
    assert not build_expectations(snap(), fip_filter=["172.30.89.1"]).fips


def test_missing_snapshot_file_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(ExpectationError, match=r"routers\.json: missing"):
        load_snapshot(tmp_path)
