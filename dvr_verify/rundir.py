"""A verification run's directory: the settings it was started with, and what each step writes.

    run.json         the run's settings (`RunSettings`, written by the role's setup)
    preflight.json   what the preflight found (external network, backend, image, flavor)
    resources.json   what the run made (`provision.Provisioned`, + how its VMs are reached)
    api/ nodes/ probes/   the check's inputs (run.py)

Every `dvr-verify` step of a run takes `--run-dir` and reads what it needs from here, so the
playbooks pass one path instead of long argument lists.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from dvr_verify.backends.lab import lab_vm_netns
from dvr_verify.runs import DEFAULT_ABANDON_AFTER, MIN_ABANDON_AFTER

SETTINGS, PREFLIGHT = "run.json", "preflight.json"


class SettingsError(ValueError):
    """An option has a wrong type or value: one line naming the Ansible variable."""


def _whole(name: str, value: Any, low: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = low - 1
    if number < low or isinstance(value, bool):
        raise SettingsError(f"dvr_verify_{name}: a whole number >= {low} (got {value!r})")
    return number


def _flag(name: str, value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off", ""):
        return False
    raise SettingsError(f"dvr_verify_{name}: true or false (got {value!r})")


@dataclass(frozen=True)
class RunSettings:
    """The options one verification runs with (Ansible variables `dvr_verify_<field>`)."""

    run_id: str
    cloud: str
    # (inventory name, Neutron host) of every compute, in inventory order.
    computes: list[tuple[str, str]] = field(default_factory=list)
    external_network: str = ""
    backend: str = "auto"
    image: str = ""
    flavor: str = ""
    availability_zone: str = "nova"
    ha: bool = False
    vms_per_compute: int = 1
    unbound_fips: int = 0
    active_timeout: int = 120
    trace_destinations: list[str] = field(default_factory=list)
    # The run's SSH public key file (its key pair lives outside the run directory).
    ssh_public_key: str = ""
    keep: bool = False
    # Seconds without a heartbeat after which a run not kept is abandoned (runs.py).
    abandon_after: int = DEFAULT_ABANDON_AFTER

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSettings:
        """Settings from the role's variables, each checked for type and range."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["computes"] = [(str(a), str(b)) for a, b in values.get("computes", ())]
        values["ha"] = _flag("ha", values.get("ha", False))
        values["keep"] = _flag("keep", values.get("keep", False))
        values["abandon_after"] = _whole(
            "abandon_after", values.get("abandon_after", DEFAULT_ABANDON_AFTER), MIN_ABANDON_AFTER
        )
        values["vms_per_compute"] = _whole("vms_per_compute", values.get("vms_per_compute", 1), 1)
        values["unbound_fips"] = _whole("unbound_fips", values.get("unbound_fips", 0), 0)
        values["active_timeout"] = _whole("active_timeout", values.get("active_timeout", 120), 1)
        values["trace_destinations"] = [str(d) for d in values.get("trace_destinations") or ()]
        for dest in values["trace_destinations"]:
            try:
                ipaddress.IPv4Address(dest)  # the traceroutes (scapy, or the VM's) are IPv4
            except ValueError:
                raise SettingsError(
                    f"dvr_verify_trace_destinations: {dest!r} is not an IPv4 address"
                ) from None
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_json(path: Path, what: str) -> Any:
    """A JSON file of the run, or one line saying which step writes it."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(f"{path}: missing ({what})") from None
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path}: not JSON ({exc})") from exc


def load_settings(run_dir: Path) -> RunSettings:
    return RunSettings.from_dict(read_json(run_dir / SETTINGS, "the role's setup writes it"))


def load_preflight(run_dir: Path) -> dict[str, Any]:
    return read_json(run_dir / PREFLIGHT, "`dvr-verify preflight --run-dir` writes it")


def trace_destinations(subnets: list[Mapping[str, Any]], external_network_id: str) -> list[str]:
    """The external network's first IPv4 gateway (where a traceroute from a VM must arrive)."""
    for subnet in subnets:
        gateway = subnet.get("gateway_ip")
        if (
            subnet.get("network_id") == external_network_id
            and gateway
            and subnet.get("ip_version", 4) == 4
        ):
            return [gateway]
    raise SettingsError(
        f"external network {external_network_id}: no IPv4 subnet with a gateway to trace to"
        " (set dvr_verify_trace_destinations)"
    )


def probe_plan(run_dir: Path, resources: Any, settings: RunSettings) -> dict[str, Any]:
    """What the probe phase needs of the run, computed once: VMs per compute, the FIPs to ARP
    for and reach, the traceroute destinations."""
    by_node: dict[str, list[str]] = {}
    for vm in resources.vms:
        by_node.setdefault(vm.host, []).append(vm.name)
    netns = {vm.name: lab_vm_netns(vm.port_id) for vm in resources.vms}
    vm_fips = [vm.fip for vm in resources.vms if vm.fip]
    subnets = read_json(run_dir / "api" / "subnets.json", "`dvr-verify snapshot` writes it")
    return {
        "vms_by_node": [[host, names] for host, names in sorted(by_node.items())],
        "netns_of": netns,  # lab VMs (netns access): each VM's namespace on its compute
        "vm_names": [vm.name for vm in resources.vms],
        "arp_targets": vm_fips + [u.fip for u in resources.unbound],
        "reach_targets": vm_fips,
        "df_size": resources.vms[0].mtu,
        "trace_to": settings.trace_destinations
        or trace_destinations(subnets["subnets"], resources.external_network_id),
    }
