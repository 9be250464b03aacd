"""Build and remove the test resources of one run (openstacksdk, admin).

Every Neutron resource carries the tags `dvr-verify` and `dvr-verify-run-<run id>`, so a run's
leftovers (or every run's, after a crash) can be found and deleted by tag. Nova servers carry the
run tag in their metadata (key `dvr-verify`), keypairs are named `dvrv-<run id>`.

VM backends: `lab` creates bound ports (binding:host_id, device_owner compute:nova) that the lab
plugs as Nova + os-vif would; `nova` boots a server per VM on its host (`availability_zone
<zone>:<host>`) on a port created here, so the port and its FIP carry the tags.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

TAG = "dvr-verify"
DEFAULT_CIDR = "10.0.111.0/24"
BACKENDS = ("lab", "nova")
SERVER_STATUS_TIMEOUT = 300.0


class PreflightError(Exception):
    """The cloud cannot run this verification: one line naming what to fix."""


def run_tag(run_id: str) -> str:
    return f"{TAG}-run-{run_id}"


@dataclass
class PlannedVM:
    name: str
    host: str
    with_fip: bool


@dataclass(frozen=True)
class NovaSpec:
    """How the `nova` backend boots a VM: image, flavor, the run's keypair, availability zone."""

    image_id: str
    flavor_id: str
    public_key: str
    zone: str = "nova"


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
    server_id: str | None = None


@dataclass
class UnboundFIP:
    """A floating IP on a port no host binds: Neutron centralizes it on the SNAT host."""

    port_id: str
    ip: str
    fip: str
    fip_id: str


@dataclass
class Provisioned:
    run_id: str
    tag: str
    external_network_id: str = ""
    network_id: str = ""
    subnet_id: str = ""
    router_id: str = ""
    security_group_id: str = ""
    backend: str = "lab"
    ha: bool = False
    keypair: str = ""
    vms: list[ProvisionedVM] = field(default_factory=list)
    unbound: list[UnboundFIP] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provisioned:  # placeholder until the merge
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["vms"] = [ProvisionedVM(**vm) for vm in data.get("vms", ())]
        known["unbound"] = [UnboundFIP(**u) for u in data.get("unbound", ())]
        return cls(**known)


def preflight(
    conn: Any,
    hosts: Sequence[str],
    external_network: str | None,
    backend: str = "lab",
    image: str = "",
    flavor: str = "",
    ha: bool = False,
) -> dict[str, Any]:
    """Check the cloud can run a DVR verification on `hosts`; return the external network, the L3
    agents' modes and the VM backend (with its image and flavor for `nova`; `auto` is `nova` when
    the catalog has a compute service). Raises PreflightError with one line naming what to fix."""
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
    snat_alive = [a.host for a in agents if modes[a.host] == "dvr_snat" and a.is_alive]
    if ha and len(snat_alive) < 2:
        raise PreflightError(
            f"DVR+HA needs 2 or more live dvr_snat L3 agents, found {len(snat_alive)}"
        )
    ext = _external_network(conn, external_network)
    result: dict[str, Any] = {"external_network_id": ext.id, "agent_modes": modes}
    result.update(_backend(conn, backend, hosts, image, flavor))
    return result


def resolve_backend(conn: Any, wanted: str) -> str:
    """`lab` or `nova`; `auto` is `nova` when the catalog has a compute service."""
    if wanted == "auto":
        return "nova" if conn.has_service("compute") else "lab"
    if wanted not in BACKENDS:
        raise PreflightError(f"dvr_verify_backend {wanted!r}: use auto, lab or nova")
    return wanted


def _backend(
    conn: Any, wanted: str, hosts: Sequence[str], image: str, flavor: str
) -> dict[str, Any]:
    backend = resolve_backend(conn, wanted)
    if backend == "lab":
        return {"backend": "lab"}
    if not conn.has_service("compute"):
        raise PreflightError("backend nova: the cloud's catalog has no compute service")
    computes = {s.host: s for s in conn.compute.services() if s.binary == "nova-compute"}
    missing = [h for h in hosts if h not in computes]
    if missing:
        raise PreflightError(f"no nova-compute service on {', '.join(missing)}: check host names")
    down = [h for h in hosts if computes[h].state != "up" or computes[h].status != "enabled"]
    if down:
        raise PreflightError(f"nova-compute down or disabled on {', '.join(down)}")
    img = choose_image(conn, image)
    flv = choose_flavor(conn, flavor, min_disk=int(img.min_disk or 0))
    return {"backend": "nova", "image_id": img.id, "flavor_id": flv.id}


def choose_image(conn: Any, wanted: str) -> Any:
    """The image `wanted` (name or id), or the newest active image named cirros*."""
    if wanted:
        img = conn.image.find_image(wanted, ignore_missing=True)
        if img is None:
            raise PreflightError(f"image {wanted!r} not found (dvr_verify_image)")
        return img
    cirros = [
        i for i in conn.image.images() if i.status == "active" and i.name.startswith("cirros")
    ]
    if not cirros:
        raise PreflightError("no active cirros* image: set dvr_verify_image")
    return max(cirros, key=lambda i: i.created_at or "")


def choose_flavor(conn: Any, wanted: str, min_disk: int = 0) -> Any:
    """The flavor `wanted` (name or id), or the smallest public one with 128 MiB or more and
    enough disk for the image."""
    if wanted:
        flv = conn.compute.find_flavor(wanted, ignore_missing=True)
        if flv is None:
            raise PreflightError(f"flavor {wanted!r} not found (dvr_verify_flavor)")
        return flv
    fits = [f for f in conn.compute.flavors() if f.ram >= 128 and f.disk >= min_disk]
    if not fits:
        raise PreflightError(
            "no flavor with 128 MiB RAM and the image's disk: set dvr_verify_flavor"
        )
    return min(fits, key=lambda f: (f.ram, f.disk, f.vcpus))


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
    *,
    nova: NovaSpec | None = None,
    ha: bool = False,
    unbound_fips: int = 0,
) -> Provisioned:
    """A distributed router with a gateway, a tenant network, a port per VM, FIPs.

    Without `nova` (lab backend) ports are created bound (binding:host_id) with device_owner
    compute:nova, as Nova would, and the caller plugs them. With `nova`, a server boots on each
    VM's host on its port (Nova binds it); `wait_active` waits for the servers. `unbound_fips`
    adds FIPs on ports nobody binds (centralized on the SNAT host). On error the caller runs
    `cleanup(conn, run_tag(run_id))`: everything made so far is tagged.
    """
    tags = [TAG, run_tag(run_id)]
    done = Provisioned(
        run_id=run_id,
        tag=run_tag(run_id),
        external_network_id=external_network_id,
        backend="nova" if nova else "lab",
        ha=ha,
    )
    net = conn.network.create_network(name=f"dvrv-{run_id}-net")
    conn.network.set_tags(net, tags)
    done.network_id = net.id
    subnet = conn.network.create_subnet(
        network_id=net.id,
        name=f"dvrv-{run_id}-subnet",
        ip_version=4,
        cidr=cidr,
        enable_dhcp=nova is not None,  # Nova VMs (cirros) take their address by DHCP
    )
    conn.network.set_tags(subnet, tags)
    done.subnet_id = subnet.id
    router = conn.network.create_router(
        name=f"dvrv-{run_id}-router",
        is_distributed=True,
        is_ha=ha,
        external_gateway_info={"network_id": external_network_id},
    )
    conn.network.set_tags(router, tags)
    done.router_id = router.id
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    group = conn.network.create_security_group(name=f"dvrv-{run_id}-sg")
    conn.network.set_tags(group, tags)
    done.security_group_id = group.id
    for protocol in ("icmp", "tcp"):  # the probes: ping, DF ping, TCP (and SSH) to the FIP
        conn.network.create_security_group_rule(
            security_group_id=group.id, direction="ingress", ethertype="IPv4", protocol=protocol
        )
    if nova:
        done.keypair = f"dvrv-{run_id}"
        conn.compute.create_keypair(name=done.keypair, public_key=nova.public_key)
    prefixlen = int(cidr.split("/")[1])
    mtu = int(net.mtu or 1500)
    for vm in vms:
        device_id = "" if nova else str(uuid.uuid4())
        binding = {} if nova else {"device_owner": "compute:nova", "binding_host_id": vm.host}
        port = conn.network.create_port(
            network_id=net.id,
            name=f"dvrv-{run_id}-{vm.name}",
            device_id=device_id,
            security_group_ids=[group.id],
            **binding,
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
        if nova:
            server = conn.compute.create_server(
                name=f"dvrv-{run_id}-{vm.name}",
                image_id=nova.image_id,
                flavor_id=nova.flavor_id,
                key_name=done.keypair,
                networks=[{"port": port.id}],
                availability_zone=f"{nova.zone}:{vm.host}",
                metadata={TAG: done.tag},
                config_drive=True,  # the key reaches the VM even where metadata does not
            )
            made.server_id = made.device_id = server.id
        if vm.with_fip:
            fip = conn.network.create_ip(floating_network_id=external_network_id, port_id=port.id)
            conn.network.set_tags(fip, tags)
            made.fip, made.fip_id = fip.floating_ip_address, fip.id
        done.vms.append(made)
    for index in range(unbound_fips):
        port = conn.network.create_port(
            network_id=net.id, name=f"dvrv-{run_id}-unbound{index}", security_group_ids=[group.id]
        )
        conn.network.set_tags(port, tags)
        fip = conn.network.create_ip(floating_network_id=external_network_id, port_id=port.id)
        conn.network.set_tags(fip, tags)
        done.unbound.append(
            UnboundFIP(port.id, port.fixed_ips[0]["ip_address"], fip.floating_ip_address, fip.id)
        )
    return done


def wait_active(
    conn: Any, done: Provisioned, timeout: float = 90.0, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Wait (bounded) until every server, VM port and floating IP is ACTIVE and a DVR+HA router
    has an active agent."""
    deadline = time.monotonic() + timeout
    pending: list[str] = []
    while time.monotonic() < deadline:
        pending = _servers_pending(conn, done) + _ha_pending(conn, done)
        pending += [
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


def _ha_pending(conn: Any, done: Provisioned) -> list[str]:
    """A DVR+HA router is ready once one L3 agent reports it active (keepalived elected a
    primary, and the agent told the server)."""
    if not done.ha or not done.router_id:
        return []
    states = [a.ha_state for a in conn.network.routers_hosting_l3_agents(done.router_id)]
    if states.count("active") == 1:
        return []
    return [f"router {done.router_id} HA state ({', '.join(map(str, states)) or 'no agent'})"]


def _servers_pending(conn: Any, done: Provisioned) -> list[str]:
    """Servers not ACTIVE yet; a server in ERROR ends the wait with Nova's fault message."""
    pending = []
    for vm in done.vms:
        if not vm.server_id:
            continue
        server = conn.compute.get_server(vm.server_id)
        if server.status == "ERROR":
            fault = (server.fault or {}).get("message", "no fault message")
            raise PreflightError(f"server {vm.name} on {vm.host}: ERROR: {fault}")
        if server.status != "ACTIVE":
            pending.append(f"server {vm.name} ({server.status})")
    return pending


def cleanup(conn: Any, tag: str = TAG) -> list[str]:
    """Delete every resource carrying `tag` (a run's tag, or `dvr-verify` for all runs)."""
    deleted = _cleanup_compute(conn, tag)
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


def _cleanup_compute(
    conn: Any,
    tag: str,
    timeout: float = SERVER_STATUS_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Delete the servers whose metadata carries `tag` (or any run's) and the runs' keypairs;
    wait (bounded) until the servers are gone, so their ports can go."""
    if not conn.has_service("compute"):
        return []
    mine = _run_id_of(tag)
    deleted = []
    servers = [
        s
        for s in conn.compute.servers(details=True, all_projects=True)
        if TAG in (s.metadata or {}) and (mine is None or s.metadata[TAG] == tag)
    ]
    for server in servers:
        conn.compute.delete_server(server, ignore_missing=True)
        deleted.append(f"server {server.name}")
    deadline = time.monotonic() + timeout
    while servers and time.monotonic() < deadline:
        servers = [s for s in servers if conn.compute.find_server(s.id, ignore_missing=True)]
        if servers:
            sleep(2.0)
    for key in list(conn.compute.keypairs()):
        if key.name == f"dvrv-{mine}" or (mine is None and key.name.startswith("dvrv-")):
            conn.compute.delete_keypair(key, ignore_missing=True)
            deleted.append(f"keypair {key.name}")
    return deleted


def _run_id_of(tag: str) -> str | None:
    """The run id in a run's tag; None for the tag of all runs."""
    prefix = f"{TAG}-run-"
    return tag[len(prefix) :] if tag.startswith(prefix) else None
