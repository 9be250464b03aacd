"""The `nova` VM backend: a Nova server per VM, pinned to its host, on a port provision made.

The port (and its FIP) carry the run's tags; Nova binds it when the server boots on it. Servers
boot on `availability_zone <zone>:<host>` with the run's keypair `dvrv-<run id>` and a config
drive, and carry the run's tag in their metadata (key `dvr-verify`), which is how cleanup finds
them. The VMs (cirros) take their address by DHCP.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dvr_verify.backends.base import (
    TAG,
    PreflightError,
    RunTrace,
    Sleep,
    VMBackend,
    run_id_of,
    unix_seconds,
)

if TYPE_CHECKING:
    from dvr_verify.provision import PlannedVM, Provisioned, ProvisionedVM

SERVER_STATUS_TIMEOUT = 300.0
KEYPAIR_PREFIX = "dvrv-"


@dataclass(frozen=True)
class NovaSpec:
    """How the `nova` backend boots a VM: image, flavor, the run's keypair, availability zone."""

    image_id: str
    flavor_id: str
    public_key: str
    zone: str = "nova"


class NovaBackend(VMBackend):
    """A server per VM; `spec` is needed to make VMs, not to check, wait or clean up."""

    name = "nova"
    dhcp = True  # Nova VMs (cirros) take their address by DHCP
    min_active_timeout = 600  # servers boot (image download, spawn) before their ports go ACTIVE

    def __init__(self, spec: NovaSpec | None = None) -> None:
        self.spec = spec

    def _spec(self) -> NovaSpec:
        if self.spec is None:
            raise ValueError("the nova backend makes VMs only with a NovaSpec")
        return self.spec

    def preflight(
        self, conn: Any, hosts: Sequence[str], image: str = "", flavor: str = ""
    ) -> dict[str, Any]:
        """nova-compute up and enabled on every host; the image (default: newest cirros*) and the
        flavor (default: the smallest that fits it)."""
        if not conn.has_service("compute"):
            raise PreflightError("backend nova: the cloud's catalog has no compute service")
        computes = {s.host: s for s in conn.compute.services() if s.binary == "nova-compute"}
        missing = [h for h in hosts if h not in computes]
        if missing:
            raise PreflightError(
                f"no nova-compute service on {', '.join(missing)}: check host names"
            )
        down = [h for h in hosts if computes[h].state != "up" or computes[h].status != "enabled"]
        if down:
            raise PreflightError(f"nova-compute down or disabled on {', '.join(down)}")
        img = choose_image(conn, image)
        flv = choose_flavor(conn, flavor, min_disk=int(img.min_disk or 0))
        return {"backend": self.name, "image_id": img.id, "flavor_id": flv.id}

    def prepare(self, conn: Any, run: Provisioned) -> None:
        """The run's keypair (its public key reaches the VMs by config drive)."""
        spec = self._spec()
        run.keypair = f"{KEYPAIR_PREFIX}{run.run_id}"
        conn.compute.create_keypair(name=run.keypair, public_key=spec.public_key)

    def port_args(self, vm: PlannedVM) -> dict[str, Any]:
        """Unbound and unowned: Nova binds the port when the server boots on it."""
        return {"device_id": ""}

    def make_vm(self, conn: Any, run: Provisioned, vm: ProvisionedVM) -> str | None:
        """Boot the server on its host, on the VM's port."""
        spec = self._spec()
        server = conn.compute.create_server(
            name=f"dvrv-{run.run_id}-{vm.name}",
            image_id=spec.image_id,
            flavor_id=spec.flavor_id,
            key_name=run.keypair,
            networks=[{"port": vm.port_id}],
            availability_zone=f"{spec.zone}:{vm.host}",
            metadata={TAG: run.tag},
            config_drive=True,  # the key reaches the VM even where metadata does not
        )
        return server.id

    def pending(self, conn: Any, run: Provisioned) -> list[str]:
        """Servers not ACTIVE yet; a server in ERROR ends the wait with Nova's fault message."""
        pending = []
        for vm in run.vms:
            if not vm.server_id:
                continue
            server = conn.compute.get_server(vm.server_id)
            if server.status == "ERROR":
                fault = (server.fault or {}).get("message", "no fault message")
                raise PreflightError(f"server {vm.name} on {vm.host}: ERROR: {fault}")
            if server.status != "ACTIVE":
                pending.append(f"server {vm.name} ({server.status})")
        return pending

    def cleanup(
        self,
        conn: Any,
        tag: str,
        *,
        timeout: float = SERVER_STATUS_TIMEOUT,
        sleep: Sleep = time.sleep,
    ) -> list[str]:
        """Delete the servers whose metadata carries `tag` (or any run's) and the runs' keypairs;
        wait (bounded) until the servers are gone, so their ports can go."""
        if not conn.has_service("compute"):
            return []
        mine = run_id_of(tag)
        servers = [
            s
            for s in conn.compute.servers(details=True, all_projects=True)
            if TAG in (s.metadata or {}) and (mine is None or s.metadata[TAG] == tag)
        ]
        deleted = []
        for server in servers:
            conn.compute.delete_server(server, ignore_missing=True)
            deleted.append(f"server {server.name}")
        deadline = time.monotonic() + timeout
        while servers and time.monotonic() < deadline:
            servers = [s for s in servers if conn.compute.find_server(s.id, ignore_missing=True)]
            if servers:
                sleep(2.0)
        for key in list(conn.compute.keypairs()):
            if key.name == f"{KEYPAIR_PREFIX}{mine}" or (
                mine is None and key.name.startswith(KEYPAIR_PREFIX)
            ):
                conn.compute.delete_keypair(key, ignore_missing=True)
                deleted.append(f"keypair {key.name}")
        return deleted

    def traces(self, conn: Any) -> list[RunTrace]:
        """Every run's servers (by the run tag in their metadata) and keypairs (`dvrv-<run id>`),
        with their creation times, for the sweep of abandoned runs."""
        if not conn.has_service("compute"):
            return []
        found = [
            RunTrace(run_id_of(s.metadata[TAG]), f"server {s.name}", unix_seconds(s.created_at))
            for s in conn.compute.servers(details=True, all_projects=True)
            if TAG in (s.metadata or {})
        ]
        # Listed keypairs carry no creation time (the run's other resources do).
        keys = [k for k in conn.compute.keypairs() if k.name.startswith(KEYPAIR_PREFIX)]
        return found + [
            RunTrace(k.name[len(KEYPAIR_PREFIX) :], f"keypair {k.name}", unix_seconds(k.created_at))
            for k in keys
            if len(k.name) > len(KEYPAIR_PREFIX)
        ]


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
