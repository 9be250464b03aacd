"""Build and remove the test resources of one run (openstacksdk, admin).

Every Neutron resource carries the tags `dvr-verify` and `dvr-verify-run-<run id>` (and
`dvr-verify-keep` when the run is kept), so a run's leftovers (or every run's, after a crash) can
be found and deleted by tag; the run's network also carries its heartbeat
(`dvr-verify-heartbeat-<Unix seconds>`), which tells the sweep of abandoned runs (runs.py) that
the run is alive.

Made here, whichever backend makes the VMs: the DVR preflight (L3 agents, external network), the
tenant network and subnet, the distributed router, the security group, a port per VM and its
floating IP, FIPs on unbound ports, the wait for ports and FIPs to be ACTIVE, the Neutron part of
cleanup. A VM backend (dvr_verify/backends, registry `BACKENDS`) does the rest: `lab` creates each
port bound to its host (binding:host_id, device_owner compute:nova) and the lab's Ansible role
plugs it as Nova + os-vif would; `nova` boots a server per VM on its host (`availability_zone
<zone>:<host>`) on the port made here (so the port and its FIP carry the tags) with the run's
keypair `dvrv-<run id>`, and finds its servers by the run tag in their metadata (key
`dvr-verify`).

To add a VM backend: a `VMBackend` class in dvr_verify/backends/<name>.py, its entry in
`BACKENDS` (dvr_verify/backends/__init__.py), and the Ansible role's tasks for it
(roles/dvr_verify/tasks/backend_<name>_*.yml).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from typing import Any

from dvr_verify import backends
from dvr_verify.backends import every_backend, get_backend
from dvr_verify.backends.base import (
    KEEP_TAG,
    TAG,
    PreflightError,
    VMBackend,
    heartbeat_tag,
    run_tag,
)
from dvr_verify.backends.lab import LabBackend
from dvr_verify.backends.nova import (
    SERVER_STATUS_TIMEOUT,
    NovaBackend,
    NovaSpec,
    choose_flavor,
    choose_image,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_CIDR",
    "SERVER_STATUS_TIMEOUT",
    "TAG",
    "NovaSpec",
    "PlannedVM",
    "PreflightError",
    "Provisioned",
    "ProvisionedVM",
    "UnboundFIP",
    "choose_flavor",
    "choose_image",
    "cleanup",
    "plan_vms",
    "preflight",
    "provision",
    "resolve_backend",
    "run_tag",
    "wait_active",
]

DEFAULT_CIDR = "10.0.111.0/24"
BACKENDS = tuple(backends.BACKENDS)  # the names, for the CLI's choices


@dataclass
class PlannedVM:
    """A VM to make: its name, its Neutron host, whether it gets a floating IP."""

    name: str
    host: str
    with_fip: bool


def plan_vms(computes: Sequence[tuple[str, str]], per_compute: int) -> list[PlannedVM]:
    """The run's VMs: `per_compute` VMs with a FIP on each compute ((inventory name, Neutron host),
    in inventory order), named after the inventory name's part before the first '.' (`node-12`,
    `node-12-1`, ...), then `nofip`, without FIP, on the first compute."""
    if per_compute < 1:
        raise ValueError(f"VMs per compute must be 1 or more, not {per_compute}")
    if not computes:
        raise ValueError("no compute to plan VMs on")
    vms = []
    for inventory_name, host in computes:
        short = inventory_name.split(".", 1)[0]
        vms += [PlannedVM(f"{short}-{n}" if n else short, host, True) for n in range(per_compute)]
    vms.append(PlannedVM("nofip", computes[0][1], False))
    return vms


@dataclass
class ProvisionedVM:
    """A VM's port (and server, for nova) as made: what plugging and probing it needs."""

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
    """What a run made (its resources.json)."""

    run_id: str
    tag: str
    external_network_id: str = ""
    network_id: str = ""
    subnet_id: str = ""
    router_id: str = ""
    security_group_id: str = ""
    backend: str = "lab"
    ha: bool = False
    kept: bool = False
    keypair: str = ""
    vms: list[ProvisionedVM] = field(default_factory=list)
    unbound: list[UnboundFIP] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provisioned:
        """The inverse of `as_dict`, for a run's resources.json: keys older files lack take their
        defaults, keys not of this record (Ansible's `vm_access`) are left out."""
        known = _known(cls, data)
        known["vms"] = [ProvisionedVM(**_known(ProvisionedVM, vm)) for vm in data.get("vms", ())]
        known["unbound"] = [UnboundFIP(**_known(UnboundFIP, u)) for u in data.get("unbound", ())]
        return cls(**known)


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The items of `data` that are fields of the dataclass `cls`."""
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


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
        raise not_admin(conn, "listing the L3 agents was refused") from exc
    roles = role_names(conn)
    if not agents and roles is not None and "admin" not in roles:
        raise not_admin(conn, "Neutron lists no L3 agent to them")
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
    result: dict[str, Any] = {
        "external_network_id": ext.id,
        "external_cidrs": [s.cidr for s in conn.network.subnets(network_id=ext.id)],
        "agent_modes": modes,
    }
    result.update(_backend(conn, backend, hosts, image, flavor))
    return result


def role_names(conn: Any) -> list[str] | None:
    """The roles of the connection's token (None when its auth plugin does not say)."""
    try:
        return list(conn.session.auth.get_access(conn.session).role_names)
    except (AttributeError, TypeError):
        return None


def not_admin(conn: Any, symptom: str) -> PreflightError:
    """Admin is required: say so, with the token's roles and why."""
    roles = role_names(conn)
    held = f" (roles: {', '.join(roles) or 'none'})" if roles is not None else ""
    return PreflightError(
        f"the credentials are not admin{held}: {symptom}; dvr-verify needs an admin clouds.yaml"
        " entry (dvr_verify_cloud): ports' binding:host_id, the agents and distributed routers"
        " are admin-only in Neutron"
    )


def resolve_backend(conn: Any, wanted: str) -> str:
    """A name in BACKENDS; `auto` is `nova` when the catalog has a compute service, else `lab`."""
    if wanted == "auto":
        return "nova" if conn.has_service("compute") else "lab"
    if wanted not in backends.BACKENDS:
        names = ("auto", *backends.BACKENDS)
        raise PreflightError(
            f"dvr_verify_backend {wanted!r}: use {', '.join(names[:-1])} or {names[-1]}"
        )
    return wanted


def _backend(
    conn: Any, wanted: str, hosts: Sequence[str], image: str, flavor: str
) -> dict[str, Any]:
    """The VM backend's part of the preflight result (`backend`, for nova image and flavor)."""
    return get_backend(resolve_backend(conn, wanted)).preflight(conn, hosts, image, flavor)


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


@dataclass(frozen=True)
class _Lan:
    """What every VM's port shares: the subnet's prefix length and gateway, the network's MTU."""

    prefixlen: int
    gateway: str
    mtu: int


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
    vm_backend: VMBackend | None = None,
    keep: bool = False,
) -> Provisioned:
    """A distributed router with a gateway, a tenant network, a port per VM, FIPs, the VMs.

    The VMs are `vm_backend`'s, else nova's with `nova`, else lab's. Lab ports are created bound
    (binding:host_id) with device_owner compute:nova, as Nova would, and the caller plugs them.
    With `nova`, a server boots on each VM's host on its port (Nova binds it); `wait_active` waits
    for the servers. `unbound_fips` adds FIPs on ports nobody binds (centralized on the SNAT
    host). `keep` marks every resource kept (tag `dvr-verify-keep`: the sweep of abandoned runs
    spares it). On error the caller runs `cleanup(conn, run_tag(run_id))`: everything made so far
    is tagged.
    """
    backend = vm_backend or (NovaBackend(nova) if nova else LabBackend())
    done = Provisioned(
        run_id=run_id,
        tag=run_tag(run_id),
        external_network_id=external_network_id,
        backend=backend.name,
        ha=ha,
        kept=keep,
    )
    net, subnet = _make_network(conn, done, cidr, dhcp=backend.dhcp)
    _make_router(conn, done)
    _make_security_group(conn, done)
    backend.prepare(conn, done)
    lan = _Lan(int(cidr.split("/")[1]), subnet.gateway_ip, int(net.mtu or 1500))
    for vm in vms:
        done.vms.append(_make_vm(conn, done, backend, vm, lan))
    for index in range(unbound_fips):
        done.unbound.append(_make_unbound(conn, done, index))
    return done


def _tagged(conn: Any, done: Provisioned, resource: Any, *extra: str) -> Any:
    """`resource`, now carrying the tags of `done`'s run (the keep mark if kept) and `extra`."""
    keep = [KEEP_TAG] if done.kept else []
    conn.network.set_tags(resource, [TAG, done.tag, *keep, *extra])
    return resource


def _make_network(conn: Any, done: Provisioned, cidr: str, dhcp: bool) -> tuple[Any, Any]:
    """The run's network and its subnet. The first heartbeat comes in the same call as the run's
    tags, so the network is never listed as the run's without one."""
    net = conn.network.create_network(name=f"dvrv-{done.run_id}-net")
    _tagged(conn, done, net, heartbeat_tag(time.time()))
    done.network_id = net.id
    subnet = conn.network.create_subnet(
        network_id=net.id,
        name=f"dvrv-{done.run_id}-subnet",
        ip_version=4,
        cidr=cidr,
        enable_dhcp=dhcp,
    )
    done.subnet_id = _tagged(conn, done, subnet).id
    return net, subnet


def _make_router(conn: Any, done: Provisioned) -> None:
    router = conn.network.create_router(
        name=f"dvrv-{done.run_id}-router",
        is_distributed=True,
        is_ha=done.ha,
        external_gateway_info={"network_id": done.external_network_id},
    )
    done.router_id = _tagged(conn, done, router).id
    conn.network.add_interface_to_router(router, subnet_id=done.subnet_id)


def _make_security_group(conn: Any, done: Provisioned) -> None:
    group = conn.network.create_security_group(name=f"dvrv-{done.run_id}-sg")
    done.security_group_id = _tagged(conn, done, group).id
    for protocol in ("icmp", "tcp"):  # the probes: ping, DF ping, TCP (and SSH) to the FIP
        conn.network.create_security_group_rule(
            security_group_id=group.id, direction="ingress", ethertype="IPv4", protocol=protocol
        )


def _make_port(conn: Any, done: Provisioned, name: str, **args: Any) -> Any:
    port = conn.network.create_port(
        network_id=done.network_id,
        name=f"dvrv-{done.run_id}-{name}",
        security_group_ids=[done.security_group_id],
        **args,
    )
    return _tagged(conn, done, port)


def _make_fip(conn: Any, done: Provisioned, port_id: str) -> Any:
    fip = conn.network.create_ip(floating_network_id=done.external_network_id, port_id=port_id)
    return _tagged(conn, done, fip)


def _make_vm(
    conn: Any, done: Provisioned, backend: VMBackend, vm: PlannedVM, lan: _Lan
) -> ProvisionedVM:
    """The VM's port (bound as its backend says), the VM, its FIP."""
    args = backend.port_args(vm)
    port = _make_port(conn, done, vm.name, **args)
    made = ProvisionedVM(
        name=vm.name,
        host=vm.host,
        port_id=port.id,
        device_id=args["device_id"],
        mac=port.mac_address,
        ip=port.fixed_ips[0]["ip_address"],
        prefixlen=lan.prefixlen,
        gateway=lan.gateway,
        mtu=lan.mtu,
    )
    server_id = backend.make_vm(conn, done, made)
    if server_id is not None:
        made.server_id = made.device_id = server_id
    if vm.with_fip:
        fip = _make_fip(conn, done, port.id)
        made.fip, made.fip_id = fip.floating_ip_address, fip.id
    return made


def _make_unbound(conn: Any, done: Provisioned, index: int) -> UnboundFIP:
    port = _make_port(conn, done, f"unbound{index}")
    fip = _make_fip(conn, done, port.id)
    return UnboundFIP(port.id, port.fixed_ips[0]["ip_address"], fip.floating_ip_address, fip.id)


def wait_active(
    conn: Any, done: Provisioned, timeout: float = 90.0, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Wait (bounded) until every server, VM port and floating IP is ACTIVE and a DVR+HA router
    has an active agent. Every backend is asked for its VMs (a record may lack `backend`)."""
    deadline = time.monotonic() + timeout
    vm_backends = every_backend()
    pending: list[str] = []
    while time.monotonic() < deadline:
        pending = [item for b in vm_backends for item in b.pending(conn, done)]
        pending += _ha_pending(conn, done) + _neutron_pending(conn, done)
        if not pending:
            return
        sleep(2.0)
    raise PreflightError(f"not ACTIVE after {timeout:.0f}s: {', '.join(pending)}")


def _neutron_pending(conn: Any, done: Provisioned) -> list[str]:
    """The VM ports and floating IPs not ACTIVE yet."""
    pending = [
        f"port {vm.name}" for vm in done.vms if conn.network.get_port(vm.port_id).status != "ACTIVE"
    ]
    return pending + [
        f"floating IP {vm.fip}"
        for vm in done.vms
        if vm.fip_id and conn.network.get_ip(vm.fip_id).status != "ACTIVE"
    ]


def _ha_pending(conn: Any, done: Provisioned) -> list[str]:
    """A DVR+HA router is ready once one L3 agent reports it active (keepalived elected a
    primary, and the agent told the server)."""
    if not done.ha or not done.router_id:
        return []
    states = [a.ha_state for a in conn.network.routers_hosting_l3_agents(done.router_id)]
    if states.count("active") == 1:
        return []
    return [f"router {done.router_id} HA state ({', '.join(map(str, states)) or 'no agent'})"]


ROUTER_INTERFACES = (
    "network:router_interface_distributed",
    "network:router_interface",
    "network:ha_router_replicated_interface",
)


def cleanup(conn: Any, tag: str = TAG, *, sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Delete every resource carrying `tag` (a run's tag, or `dvr-verify` for all runs): the
    backends' (servers, keypairs), then floating IPs, ports, routers, networks, security groups."""
    net = conn.network
    deleted = _cleanup_compute(conn, tag, sleep=sleep)
    deleted += _delete(net.ips(tags=tag), net.delete_ip, "floating IP", "floating_ip_address")
    deleted += _delete(net.ports(tags=tag), net.delete_port, "port")
    deleted += _delete(net.routers(tags=tag), partial(_delete_router, conn), "router")
    deleted += _delete(net.networks(tags=tag), net.delete_network, "network")
    deleted += _delete(net.security_groups(tags=tag), net.delete_security_group, "security group")
    return deleted


def _delete(
    items: Iterable[Any], delete: Callable[..., Any], kind: str, label: str = "name"
) -> list[str]:
    """Delete each of `items` (listed first); '<kind> <its label>' for each."""
    deleted = []
    for item in list(items):
        delete(item, ignore_missing=True)
        deleted.append(f"{kind} {getattr(item, label)}")
    return deleted


def _delete_router(conn: Any, router: Any, ignore_missing: bool) -> None:
    """Detach the router from its subnets and the external network, then delete it."""
    for port in list(conn.network.ports(device_id=router.id)):
        if port.device_owner in ROUTER_INTERFACES:
            for fixed in port.fixed_ips:
                conn.network.remove_interface_from_router(router, subnet_id=fixed["subnet_id"])
    conn.network.update_router(router, external_gateway_info=None)
    conn.network.delete_router(router, ignore_missing=ignore_missing)


def _cleanup_compute(
    conn: Any,
    tag: str,
    timeout: float = SERVER_STATUS_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Every backend's cleanup of `tag` (nova: servers by metadata, keypairs), waiting (bounded)
    until the servers are gone, so their ports can go."""
    return [
        line for b in every_backend() for line in b.cleanup(conn, tag, timeout=timeout, sleep=sleep)
    ]
