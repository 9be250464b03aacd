"""The probe host's side of the preflight: its interface on the external network
(`dvr_verify_probe_interface`) exists and holds `dvr_verify_probe_address`, an address in the
external network's subnet. Without it the capture never starts, and that is found only after
provisioning, as a timeout on the capture's ready file.

The input is `ip -j addr show dev <interface>` on the probe host (read-only), or the error it gave.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def interface_addresses(ip_json: Sequence[dict[str, Any]]) -> list[Interface]:
    """The addresses (with prefix length) in `ip -j addr show dev X` output."""
    return [
        ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
        for link in ip_json
        for a in link.get("addr_info", [])
        if a.get("family") in ("inet", "inet6") and "local" in a
    ]


def probe_host_error(
    host: str, interface: str, address: str, cidrs: Sequence[str], ip_json: Any, ip_error: str
) -> str | None:
    """None when `interface` on `host` has `address` in one of the external `cidrs`, else one
    line saying which of the three is wrong."""
    where, option = f"probe host {host}", "dvr_verify_probe_interface"
    if ip_error or not ip_json:
        if "does not exist" in ip_error or not ip_error:
            return f"{where}: no interface {interface} ({option})"
        return f"{where}: cannot read interface {interface} ({option}): {ip_error}"
    subnets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    held = interface_addresses(ip_json)
    on_subnet = [a for a in held if any(a.ip in net for net in subnets)]
    external = ", ".join(cidrs) or "none"
    if not on_subnet:
        has = ", ".join(str(a) for a in held) or "none"
        return (
            f"{where}: interface {interface} (dvr_verify_probe_interface) has no address in the"
            f" external subnet {external} (it has: {has})"
        )
    if not address:
        return (
            f"{where}: dvr_verify_probe_address is not set: {interface}'s address in the external"
            f" subnet is {on_subnet[0].ip}"
        )
    if ipaddress.ip_address(address) not in {a.ip for a in on_subnet}:
        return (
            f"{where}: dvr_verify_probe_address {address} is not {interface}'s address in the"
            f" external subnet {external} ({', '.join(str(a.ip) for a in on_subnet)})"
        )
    return None
