"""The lab's Nova (issue 9): every compute node is a hypervisor of its own, and the host is safe.

Each compute node runs its own libvirtd (in the node's network and mount namespaces, never in the
root namespace) with its own host UUID, /etc/libvirt, /run/libvirt, /var/lib/nova (compute_id)
and instances_path: shared state would make Nova believe storage is shared. No NAT virbr0 exists
anywhere. Read-only: inspects processes, mounts and files through /proc and nsenter.

Needs a lab with Nova (`make lab-up`); skipped otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from lab_nodes import in_node, recorded

pytestmark = pytest.mark.lab


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
