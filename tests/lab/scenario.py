"""The lab's standard DVR north/south scenario, built and removed through the API (openstacksdk)
and the lab_vm role: an external flat network, a VLAN tenant network, a distributed router with
a gateway and an interface on the tenant subnet, a security group letting ICMP/TCP/UDP in, one
lab VM per compute (or the VMs asked for) and a floating IP on the first VM.
Used by tests/lab and tools/recapture_fixtures.py.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"
CLOUDS = REPO / "clouds.yaml"
VENV_BIN = Path(sys.executable).parent


def load_inventory():
    """{"vars": {...}, "groups": {group: {host: hostvars}}} from inventory/lab/hosts.yml."""
    data = yaml.safe_load(INVENTORY.read_text())["all"]["children"]["lab"]
    groups = {name: dict(g.get("hosts") or {}) for name, g in data["children"].items()}
    return {"vars": data.get("vars", {}), "groups": groups}


def ansible(*args, timeout=300):
    """Run an Ansible command of the project's venv from the repo root."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
    )
    return subprocess.run(
        [str(VENV_BIN / args[0]), *args[1:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def lab_vm(state, name, host, port=None, subnet=None, mtu=1500, port_id=None):
    """Plug (or unplug) a lab VM with the lab_vm role, as the verify playbook does."""
    extra = {
        "lab_vm_state": state,
        "lab_vm_name": name,
        "lab_vm_host": host,
        "lab_vm_port_id": port.id if port else port_id,
    }
    if state == "plug":
        ip = port.fixed_ips[0]["ip_address"]
        extra.update(
            lab_vm_mac=port.mac_address,
            lab_vm_ip_cidr=f"{ip}/{subnet.cidr.split('/')[1]}",
            lab_vm_gateway=subnet.gateway_ip,
            lab_vm_uuid=port.device_id,
            lab_vm_mtu=mtu,
            lab_vm_hybrid=bool((port.binding_vif_details or {}).get("ovs_hybrid_plug")),
        )
    res = ansible("ansible-playbook", "playbooks/lab_vm.yml", "-e", json.dumps(extra))
    if res.returncode != 0:
        raise RuntimeError(f"lab_vm {state} {name} on {host} failed:\n{res.stdout}\n{res.stderr}")


def build(conn, inventory, vm_hosts, made, prefix="lab-test", fip_on=(0,)):
    """Create the scenario; record everything in `made` (for remove) as it goes.

    vm_hosts: inventory names of the compute nodes, one VM each (a host may repeat).
    fip_on: indexes of the VMs that get a floating IP.
    """
    v = inventory["vars"]
    made.setdefault("vms", [])
    made.setdefault("ports", [])
    made.setdefault("fips", [])
    hostvars = {h: hv for g in inventory["groups"].values() for h, hv in g.items()}
    # The lab's public network (made by lab-up, as a cloud has one); one flat net per physnet.
    ext = conn.network.find_network("public")
    made["ext"] = ext
    made["ext_shared"] = True
    net = conn.network.create_network(name=f"{prefix}-net")
    made["net"] = net
    subnet = conn.network.create_subnet(
        network_id=net.id,
        name=f"{prefix}-subnet",
        ip_version=4,
        cidr=v["lab_tenant_cidr"],
        is_dhcp_enabled=bool(v.get("lab_dhcp_agent")),
    )
    router = conn.network.create_router(
        name=f"{prefix}-router",
        is_distributed=True,
        is_ha=False,
        external_gateway_info={"network_id": ext.id},
    )
    made["router"] = router
    conn.network.add_interface_to_router(router, subnet=subnet.id)
    made["subnet"] = subnet
    sg = conn.network.create_security_group(name=f"{prefix}-sg")
    made["sg"] = sg
    for proto in ("icmp", "tcp", "udp"):
        conn.network.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", ethertype="IPv4", protocol=proto
        )
    for i, host in enumerate(vm_hosts):
        port = conn.network.create_port(
            network_id=net.id,
            name=f"{prefix}-vm{i}",
            security_group_ids=[sg.id],
            device_owner="compute:nova",
            device_id=str(uuid.uuid4()),
            binding_host_id=hostvars[host].get("neutron_host", host),
        )
        made["ports"].append(port)
        vm = {"name": f"{prefix}-{i}", "host": host, "port": port}
        vm["ip"] = port.fixed_ips[0]["ip_address"]
        lab_vm("plug", vm["name"], host, port=port, subnet=subnet, mtu=net.mtu)
        made["vms"].append(vm)
    for i in fip_on:
        if i < len(made["vms"]):
            fip = conn.network.create_ip(
                floating_network_id=ext.id, port_id=made["vms"][i]["port"].id
            )
            made["fips"].append(fip)
    return made


def remove(conn, made):
    """Remove whatever build() recorded in `made` (tolerates a half-built scenario)."""
    for vm in made.get("vms", []):
        try:
            lab_vm("unplug", vm["name"], vm["host"], port_id=vm["port"].id)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
    for fip in made.get("fips", []):
        conn.network.delete_ip(fip, ignore_missing=True)
    for port in made.get("ports", []):
        conn.network.delete_port(port, ignore_missing=True)
    router = made.get("router")
    if router:
        if made.get("subnet"):
            conn.network.remove_interface_from_router(router, subnet=made["subnet"].id)
        conn.network.update_router(router, external_gateway_info={})
        conn.network.delete_router(router, ignore_missing=True)
    for key in ("net",) if made.get("ext_shared") else ("net", "ext"):
        if made.get(key):
            conn.network.delete_network(made[key], ignore_missing=True)
    if made.get("sg"):
        conn.network.delete_security_group(made["sg"], ignore_missing=True)
