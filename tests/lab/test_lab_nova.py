"""The lab's Nova (issue 9): every compute node is a hypervisor of its own, and the host is safe.

Each compute node runs its own libvirtd (in the node's network and mount namespaces, never in the
root namespace) with its own host UUID, /etc/libvirt, /run/libvirt, /var/lib/nova (compute_id)
and instances_path: shared state would make Nova believe storage is shared. No NAT virbr0 exists
anywhere. Read-only (processes, mounts and files through /proc and nsenter), except the reaping
test, which boots one guest on a throwaway network and deletes both.

Needs a lab with Nova (`make lab-up`); skipped otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from lab_nodes import in_node, recorded

pytestmark = pytest.mark.lab
INVENTORY = Path(__file__).resolve().parents[2] / "inventory" / "lab" / "hosts.yml"


@pytest.fixture(scope="module")
def computes() -> dict[str, int]:
    """{compute node: its nova-compute's pid}; skips when the lab has no Nova."""
    found = recorded("nova-compute")
    if not found:
        pytest.skip("the lab is not up with Nova (no */nova-compute.pid): run `make lab-up`")
    return found


def ns(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def net_and_mnt(pid: int | str) -> tuple[str, str]:
    return ns(int(pid), "net"), ns(int(pid), "mnt")


def test_each_libvirtd_runs_inside_its_node_and_none_in_the_root_namespace(computes) -> None:
    libvirtds = recorded("libvirtd")
    assert sorted(libvirtds) == sorted(computes)
    anchors = recorded("anchor")
    for node, pid in libvirtds.items():
        assert net_and_mnt(pid) == net_and_mnt(anchors[node]), node
    root = net_and_mnt(os.getpid())  # the tests run in the root namespaces
    everyone = [p for p in os.listdir("/proc") if p.isdigit()]
    in_root = []
    for pid in everyone:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            if comm in ("libvirtd", "virtqemud") and net_and_mnt(pid) == root:
                in_root.append(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    assert not in_root, f"libvirt daemons in the root namespaces: {in_root}"


def test_no_nat_virbr0_anywhere(computes) -> None:
    assert not Path("/sys/class/net/virbr0").exists(), "virbr0 in the root namespace"
    for node in computes:
        links = in_node(node, "ip", "-o", "link", "show")
        assert "virbr" not in links, f"{node}: {links}"
        assert in_node(node, "virsh", "-q", "net-list", "--all").strip() == "", node


def test_each_compute_has_its_own_identity_and_storage(computes) -> None:
    if len(computes) < 2:
        pytest.skip("one compute: nothing to compare")
    seen: dict[str, dict[str, str]] = {}
    for node in computes:
        caps = in_node(node, "virsh", "capabilities")
        seen[node] = {
            "libvirt host uuid": re.search(r"<uuid>([^<]+)</uuid>", caps).group(1),
            "compute_id": in_node(node, "cat", "/var/lib/nova/compute_id").strip(),
            "instances_path": in_node(node, "stat", "-c", "%d:%i", "/var/lib/nova/instances"),
            "/etc/libvirt": in_node(node, "stat", "-c", "%d:%i", "/etc/libvirt"),
            "/run/libvirt": in_node(node, "stat", "-c", "%d:%i", "/run/libvirt"),
            "/etc/nova": in_node(node, "stat", "-c", "%d:%i", "/etc/nova"),
            "virtlogd": ns(recorded("virtlogd")[node], "mnt"),
        }
    for what in next(iter(seen.values())):
        values = {node: ids[what] for node, ids in seen.items()}
        assert len(set(values.values())) == len(values), f"{what} shared between nodes: {values}"


def test_nova_compute_reaches_ovs_and_privsep_without_sudo(computes) -> None:
    for node in computes:
        conf = in_node(node, "cat", "/etc/nova/nova.conf")
        assert "ovsdb_connection = unix:/run/openvswitch/db.sock" in conf, node
        helpers = [line for line in conf.splitlines() if line.startswith("helper_command")]
        assert len(helpers) == 4 and not any("sudo" in h for h in helpers), (node, helpers)


def test_the_packages_that_make_a_nat_network_are_not_installed(computes) -> None:
    """libvirt-daemon-system pulls in libvirt-daemon-config-network, whose default network is a
    NAT virbr0 on the host: neither may be installed."""
    for package in ("libvirt-daemon-system", "libvirt-daemon-config-network"):
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
        ).stdout
        assert "installed" not in status.split(), f"{package} is installed: {status}"


def nova_vars() -> dict[str, str]:
    """The image and flavor lab-up made for guests (inventory all.vars)."""
    tree = yaml.safe_load(INVENTORY.read_text())
    return tree["all"]["vars"]


def domains(node: str) -> set[str]:
    """UUIDs of the libvirt domains (running or not) on node: a domain's UUID is its server's."""
    return set(in_node(node, "virsh", "list", "--all", "--uuid").split())


def reap_interval(node: str) -> int:
    """running_deleted_instance_poll_interval in node's nova.conf (lab_up_reap_interval)."""
    conf = in_node(node, "cat", "/etc/nova/nova.conf")
    return int(re.search(r"^running_deleted_instance_poll_interval = (\d+)", conf, re.M).group(1))


def wait_for(what: str, done, timeout: float) -> float:
    """Seconds until done() is true; fails naming `what` after timeout."""
    start = time.monotonic()
    while not done():
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout:.0f} s"
        time.sleep(2)
    return time.monotonic() - start


@pytest.fixture
def reap_network(conn):
    """A throwaway network and subnet for one guest; deleted with its ports afterwards."""
    net = conn.network.create_network(name="lab-test-reap")
    try:
        conn.network.create_subnet(
            network_id=net.id, cidr="10.0.253.0/24", ip_version=4, name="lab-test-reap"
        )
        yield net
    finally:
        for server in conn.compute.servers(name="^lab-test-reap"):
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, wait=120)
        for port in conn.network.ports(network_id=net.id, device_owner=""):
            conn.network.delete_port(port)
        conn.network.delete_network(net)


def test_a_domain_nova_deleted_while_its_compute_was_down_is_reaped(
    computes, conn, reap_network
) -> None:
    """Nova deletes a server whose compute is down in its database only ("local delete"): qemu
    keeps running there. The compute, back, reaps the orphan within
    running_deleted_instance_poll_interval (lab_up_reap_interval)."""
    node = sorted(computes)[-1]
    host = next(s.host for s in conn.compute.services(binary="nova-compute") if node in s.host)
    wanted = nova_vars()
    port = conn.network.create_port(network_id=reap_network.id, port_security_enabled=False)
    server = conn.compute.create_server(
        name="lab-test-reap", networks=[{"port": port.id}], availability_zone=f"nova:{host}",
        image_id=conn.image.find_image(wanted["dvr_verify_image"], ignore_missing=False).id,
        flavor_id=conn.compute.find_flavor(wanted["dvr_verify_flavor"], ignore_missing=False).id,
    )  # fmt: skip
    conn.compute.wait_for_server(server, status="ACTIVE", wait=180)
    assert server.id in domains(node)
    service = next(conn.compute.services(binary="nova-compute", host=host))
    conn.compute.update_service_forced_down(service, host, "nova-compute", True)
    try:
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=60)
        assert server.id in domains(node), "the domain went with the local delete: no orphan"
    finally:
        conn.compute.update_service_forced_down(service, host, "nova-compute", False)
    took = wait_for(
        f"{node}: orphaned domain {server.id} reaped",
        lambda: server.id not in domains(node),
        timeout=3 * reap_interval(node) + 30,
    )
    print(f"orphaned domain reaped {took:.0f} s after the compute was back")
