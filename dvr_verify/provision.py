"""Build and remove the test resources of one run (openstacksdk, admin).

Every resource carries the tags `dvr-verify` and `dvr-verify-run-<run id>`, so a run's leftovers
(or every run's, after a crash) can be found and deleted by tag.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

TAG = "dvr-verify"
DEFAULT_CIDR = "10.0.111.0/24"


class PreflightError(Exception):
    """The cloud cannot run this verification: one line naming what to fix."""


def run_tag(run_id: str) -> str:
    return f"{TAG}-run-{run_id}"


@dataclass
class PlannedVM:
    name: str
    host: str
    with_fip: bool


@dataclass
class ProvisionedVM:
    name: str
    host: str
    port_id: str
    device_id: str
    mac: str
    ip: str
    prefixlen: int
    gateway: str
    mtu: int
    fip: str | None = None
    fip_id: str | None = None


@dataclass
class Provisioned:
    run_id: str
    tag: str
    external_network_id: str = ""
    network_id: str = ""
    subnet_id: str = ""
    router_id: str = ""
    security_group_id: str = ""
    vms: list[ProvisionedVM] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def preflight(conn: Any, hosts: Sequence[str], external_network: str | None) -> dict[str, Any]:
    """Check the cloud can run a DVR verification on `hosts`; return the external network and
    the L3 agents' modes. Raises PreflightError with one line naming what to fix."""
    from openstack import exceptions

    try:
        if conn.network.find_extension("dvr") is None:
            raise PreflightError("the cloud has no 'dvr' API extension: DVR is not enabled")
        agents = list(conn.network.agents(agent_type="L3 agent"))
    except exceptions.ForbiddenException as exc:
        raise PreflightError("the credentials are not admin (listing agents was refused)") from exc
    modes = {a.host: (a.configuration or {}).get("agent_mode") for a in agents}
    if not any(m in ("dvr", "dvr_snat") for m in modes.values()):
        raise PreflightError("no L3 agent in dvr or dvr_snat mode: not a DVR cloud")
    if not any(m == "dvr_snat" for m in modes.values()):
        raise PreflightError("no L3 agent in dvr_snat mode: nowhere to host SNAT")
    missing = [h for h in hosts if h not in modes]
    if missing:
        raise PreflightError(f"no L3 agent on {', '.join(missing)}: check the host names")
    dead = [a.host for a in agents if a.host in hosts and not a.is_alive]
    if dead:
        raise PreflightError(f"L3 agent down on {', '.join(dead)}")
    ext = _external_network(conn, external_network)
    return {"external_network_id": ext.id, "agent_modes": modes}


def _external_network(conn: Any, wanted: str | None) -> Any:
    if wanted:
        net = conn.network.find_network(wanted, ignore_missing=True)
        if net is None or not net.is_router_external:
            raise PreflightError(f"external network {wanted!r} not found (router:external)")
        return net
    nets = list(conn.network.networks(is_router_external=True))
    if len(nets) != 1:
        names = ", ".join(n.name for n in nets) or "none"
        raise PreflightError(f"choose the external network (dvr_verify_external_network): {names}")
    return nets[0]


def provision(
    conn: Any,
    run_id: str,
    vms: Sequence[PlannedVM],
    external_network_id: str,
    cidr: str = DEFAULT_CIDR,
) -> Provisioned:
    """A distributed router with a gateway, a tenant network, a bound port per VM, FIPs.

    Ports are created bound (binding:host_id) with device_owner compute:nova, as Nova would; the
    caller plugs them (os-vif on a real cloud, the lab_vm role in the lab). On error the caller
    runs `cleanup(conn, run_tag(run_id))`: everything made so far is tagged.
    """
    tags = [TAG, run_tag(run_id)]
    done = Provisioned(run_id=run_id, tag=run_tag(run_id), external_network_id=external_network_id)
    net = conn.network.create_network(name=f"dvrv-{run_id}-net")
    conn.network.set_tags(net, tags)
    done.network_id = net.id
    subnet = conn.network.create_subnet(
        network_id=net.id, name=f"dvrv-{run_id}-subnet", ip_version=4, cidr=cidr, enable_dhcp=False
    )
    conn.network.set_tags(subnet, tags)
    done.subnet_id = subnet.id
    router = conn.network.create_router(
        name=f"dvrv-{run_id}-router",
        is_distributed=True,
        is_ha=False,
        external_gateway_info={"network_id": external_network_id},
    )
    conn.network.set_tags(router, tags)
    done.router_id = router.id
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    group = conn.network.create_security_group(name=f"dvrv-{run_id}-sg")
    conn.network.set_tags(group, tags)
    done.security_group_id = group.id
    for protocol in ("icmp", "tcp"):  # the probes: ping, DF ping, TCP to the FIP
        conn.network.create_security_group_rule(
            security_group_id=group.id, direction="ingress", ethertype="IPv4", protocol=protocol
        )
    prefixlen = int(cidr.split("/")[1])
    mtu = int(net.mtu or 1500)
    for vm in vms:
        device_id = str(uuid.uuid4())
        port = conn.network.create_port(
            network_id=net.id,
            name=f"dvrv-{run_id}-{vm.name}",
            device_owner="compute:nova",
            device_id=device_id,
            binding_host_id=vm.host,
            security_group_ids=[group.id],
        )
        conn.network.set_tags(port, tags)
        made = ProvisionedVM(
            name=vm.name,
            host=vm.host,
            port_id=port.id,
            device_id=device_id,
            mac=port.mac_address,
            ip=port.fixed_ips[0]["ip_address"],
            prefixlen=prefixlen,
            gateway=subnet.gateway_ip,
            mtu=mtu,
        )
        if vm.with_fip:
            fip = conn.network.create_ip(floating_network_id=external_network_id, port_id=port.id)
            conn.network.set_tags(fip, tags)
            made.fip, made.fip_id = fip.floating_ip_address, fip.id
        done.vms.append(made)
    return done


def wait_active(
    conn: Any, done: Provisioned, timeout: float = 90.0, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Wait (bounded) until every VM port and floating IP is ACTIVE."""
    deadline = time.monotonic() + timeout
    pending: list[str] = []
    while time.monotonic() < deadline:
        pending = [
            f"port {vm.name}"
            for vm in done.vms
            if conn.network.get_port(vm.port_id).status != "ACTIVE"
        ]
        pending += [
            f"floating IP {vm.fip}"
            for vm in done.vms
            if vm.fip_id and conn.network.get_ip(vm.fip_id).status != "ACTIVE"
        ]
        if not pending:
            return
        sleep(2.0)
    raise PreflightError(f"not ACTIVE after {timeout:.0f}s: {', '.join(pending)}")


def cleanup(conn: Any, tag: str = TAG) -> list[str]:
    """Delete every resource carrying `tag` (a run's tag, or `dvr-verify` for all runs)."""
    deleted: list[str] = []
    for fip in list(conn.network.ips(tags=tag)):
        conn.network.delete_ip(fip, ignore_missing=True)
        deleted.append(f"floating IP {fip.floating_ip_address}")
    for port in list(conn.network.ports(tags=tag)):
        conn.network.delete_port(port, ignore_missing=True)
        deleted.append(f"port {port.name}")
    for router in list(conn.network.routers(tags=tag)):
        for port in list(conn.network.ports(device_id=router.id)):
            if port.device_owner in (
                "network:router_interface_distributed",
                "network:router_interface",
                "network:ha_router_replicated_interface",
            ):
                for fixed in port.fixed_ips:
                    conn.network.remove_interface_from_router(router, subnet_id=fixed["subnet_id"])
        conn.network.update_router(router, external_gateway_info=None)
        conn.network.delete_router(router, ignore_missing=True)
        deleted.append(f"router {router.name}")
    for net in list(conn.network.networks(tags=tag)):
        conn.network.delete_network(net, ignore_missing=True)
        deleted.append(f"network {net.name}")
    for group in list(conn.network.security_groups(tags=tag)):
        conn.network.delete_security_group(group, ignore_missing=True)
        deleted.append(f"security group {group.name}")
    return deleted
