"""The `nova` VM backend: a Nova server per VM, pinned to its host, on a port provision made.

The port (and its FIP) carry the run's tags; Nova binds it when the server boots on it. Servers
boot on `availability_zone <zone>:<host>` with the run's keypair `dvrv-<run id>` and a config
drive, are named `dvrv-<run id>-<vm>` and carry the run's tag in their metadata (key
`dvr-verify`): cleanup lists them by name (Nova's `name` regex, never every server of the cloud)
and deletes those whose metadata carries the tag. The VMs (cirros) take their address by DHCP.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
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
KEYPAIR_PREFIX = SERVER_PREFIX = "dvrv-"
"""A run's keypair is `dvrv-<run id>`, its servers `dvrv-<run id>-<vm>`."""


def server_name_filter(run_id: str | None) -> str:
    """The Nova `name` filter (a regex) of a run's servers, or of every run's (run_id None)."""
    if run_id is None:
        return f"^{SERVER_PREFIX}"
    # Only the regex metacharacters are escaped: "-" stays plain for every database's regex.
    literal = re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", run_id)
    return f"^{SERVER_PREFIX}{literal}-"


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
            name=f"{SERVER_PREFIX}{run.run_id}-{vm.name}",
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
                name = f"{SERVER_PREFIX}{run.run_id}-{vm.name}"
                raise PreflightError(f"server {name} on {vm.host}: ERROR: {fault.strip()}")
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
        wait (bounded) until the servers are gone, so their ports can go. Servers are listed by
        name (`server_name_filter`), once and then once per poll: never every server."""
        if not conn.has_service("compute"):
            return []
        mine = run_id_of(tag)
        servers = _servers(conn, tag)
        deleted = []
        for server in servers:
            conn.compute.delete_server(server, ignore_missing=True)
            deleted.append(f"server {server.name}")
        deadline = time.monotonic() + timeout
        left = {s.id for s in servers}
        while left and time.monotonic() < deadline:
            left &= {s.id for s in _servers(conn, tag)}
            if left:
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


def _servers(conn: Any, tag: str) -> list[Any]:
    """The servers of the runs `tag` names: listed by name, kept when their metadata says so."""
    mine = run_id_of(tag)
    listed = conn.compute.servers(details=True, all_projects=True, name=server_name_filter(mine))
    return [
        s for s in listed if TAG in (s.metadata or {}) and (mine is None or s.metadata[TAG] == tag)
    ]


UEC_PARTS = ("aki", "ari")
"""Disk or container formats of a UEC image's kernel and ramdisk parts: not bootable by themselves
(the machine image, `ami`, references them by its kernel_id and ramdisk_id properties)."""


def _uec_part(img: Any) -> str | None:
    """`aki` or `ari` when `img` is a UEC kernel or ramdisk part, else None."""
    return next((f for f in (img.disk_format, img.container_format) if f in UEC_PARTS), None)


def choose_image(conn: Any, wanted: str) -> Any:
    """The image `wanted` (name or id), or the newest active image named cirros*; never a UEC
    kernel or ramdisk part (the machine image that references them boots)."""
    if wanted:
        img = conn.image.find_image(wanted, ignore_missing=True)
        if img is None:
            raise PreflightError(f"image {wanted!r} not found (dvr_verify_image)")
        if part := _uec_part(img):
            raise PreflightError(
                f"image {wanted!r} is a UEC kernel or ramdisk ({part}): name the machine image"
                " (ami) that references it (dvr_verify_image)"
            )
        return img
    cirros = [
        i
        for i in conn.image.images()
        if i.status == "active" and (i.name or "").startswith("cirros") and not _uec_part(i)
    ]
    if not cirros:
        raise PreflightError("no active cirros* image: set dvr_verify_image")
    return max(cirros, key=lambda i: i.created_at or "")


SPECIAL_SPEC_SCOPES = (
    "resources",  # resources:CUSTOM_BAREMETAL_*=1, resources:VCPU=0, granular resources1:...
    "trait",  # required or forbidden host traits
    "capabilities",  # ComputeCapabilitiesFilter (baremetal nodes)
    "aggregate_instance_extra_specs",  # hosts of matching aggregates only
    "pci_passthrough",
    "accel",
)
"""Extra spec scopes that restrict which hosts (or nodes) a flavor boots on."""
SPECIAL_SPEC_VALUES: dict[str, Callable[[str], bool]] = {
    "hw:cpu_policy": lambda v: v in ("dedicated", "mixed"),  # CPU pinning
    "hw:mem_page_size": lambda v: v != "small",  # huge pages
    "hw:mem_encryption": lambda v: v in ("true", "yes", "1"),  # AMD SEV hosts
}
"""Extra specs that, with such a value (lower-cased), ask hosts for pinned CPUs, huge pages, SEV."""


def special_specs(specs: dict[str, str]) -> list[str]:
    """The extra specs that make a flavor unfit for a plain VM on any host: host-restricting
    scopes, unscoped keys (matched against host capabilities or aggregates), CPU pinning, huge
    pages, memory encryption."""
    special = []
    for key, value in specs.items():
        scope = key.split(":", 1)[0] if ":" in key else ""
        special_value = SPECIAL_SPEC_VALUES.get(key, lambda _: False)
        if not scope or scope.startswith(SPECIAL_SPEC_SCOPES) or special_value(str(value).lower()):
            special.append(f"{key}={value}")
    return special


def choose_flavor(conn: Any, wanted: str, min_disk: int = 0) -> Any:
    """The flavor `wanted` (name or id), or the smallest enabled public one with 128 MiB or more,
    enough disk for the image and no special extra specs (`special_specs`). Extra specs a flavor
    list lacks (before compute API 2.61) are fetched smallest flavor first, until one fits."""
    if wanted:
        flv = conn.compute.find_flavor(wanted, ignore_missing=True)
        if flv is None:
            raise PreflightError(f"flavor {wanted!r} not found (dvr_verify_flavor)")
        if flv.is_disabled:
            raise PreflightError(f"flavor {wanted!r} is disabled (dvr_verify_flavor)")
        return flv
    fits = [
        f
        for f in conn.compute.flavors()
        if f.is_public and not f.is_disabled and f.ram >= 128 and f.disk >= min_disk
    ]
    for flv in sorted(fits, key=lambda f: (f.ram, f.disk, f.vcpus)):
        specs = flv.extra_specs or conn.compute.fetch_flavor_extra_specs(flv).extra_specs
        if not special_specs(specs or {}):
            return flv
    raise PreflightError(
        "no enabled public flavor with 128 MiB RAM, the image's disk and no special extra specs"
        " (baremetal resources, traits, capabilities, CPU pinning, huge pages):"
        " set dvr_verify_flavor"
    )
