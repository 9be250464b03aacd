"""The `lab` VM backend: no compute service, the lab plugs the VMs itself.

Each VM's port is created bound to its host (binding:host_id, device_owner compute:nova, a random
device id) as Nova would bind it; the Ansible role `lab_vm` then plugs it on that host as Nova +
os-vif would (roles/dvr_verify/tasks/provision.yml) and unplugs it at cleanup.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dvr_verify.backends.base import Sleep, VMBackend

if TYPE_CHECKING:
    from dvr_verify.provision import PlannedVM, Provisioned, ProvisionedVM


def lab_vm_netns(port_id: str) -> str:
    """The network namespace of the lab VM on `port_id`, on its compute: `vm-` and the port id's
    first 11 characters, as Nova names a VM's tap device (roles/lab_vm/files/lab-vm.sh: the same
    rule). Unique per port, so runs side by side never share one."""
    return f"vm-{port_id[:11]}"


class LabBackend(VMBackend):
    """Bound ports that the lab's Ansible role plugs; nothing in Nova."""

    name = "lab"
    dhcp = False  # the lab role gives each VM its port's address

    def preflight(
        self, conn: Any, hosts: Sequence[str], image: str = "", flavor: str = ""
    ) -> dict[str, Any]:
        """Nothing to check: the L3 agents on `hosts` (provision's preflight) are enough."""
        return {"backend": self.name}

    def prepare(self, conn: Any, run: Provisioned) -> None:
        """Nothing: the VMs need no keypair in the cloud."""

    def port_args(self, vm: PlannedVM) -> dict[str, Any]:
        """Bound to the VM's host, owned by a (made-up) Nova instance."""
        return {
            "device_id": str(uuid.uuid4()),
            "device_owner": "compute:nova",
            "binding_host_id": vm.host,
        }

    def make_vm(self, conn: Any, run: Provisioned, vm: ProvisionedVM) -> str | None:
        """None: the lab's Ansible role plugs the VM after provisioning."""
        return None

    def pending(self, conn: Any, run: Provisioned) -> list[str]:
        """Nothing beyond the ports, which provision waits for."""
        return []

    def cleanup(self, conn: Any, tag: str, *, timeout: float, sleep: Sleep) -> list[str]:
        """Nothing in the cloud: the lab's Ansible role unplugs the VMs."""
        return []
