"""Turn a raw capture directory (tests/fixtures/neutron-29-lab/<host>/) into a collector doc.

The captures are the real outputs of the very commands `dvr_collect` runs (`ip -j ...`,
`iptables-save`, `ovs-vsctl --format=json`, `ovs-ofctl dump-flows`), so this only arranges them
the way the collector returns them, using the collector's own parsers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dvr_iptables import has_neutron_chains, parse_iptables_save
from dvr_ovs_flows import parse_dump_flows

FIXTURES = Path(__file__).parent / "fixtures"
LAB29 = FIXTURES / "neutron-29-lab"
LAB29_HOSTS = ("node-11.example.local", "node-12.example.local")


def _json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else []


def _sysctls(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if " = " in line:
            key, value = line.split(" = ", 1)
            out[key.strip()] = value.strip()
    return out


def _iptables(ns_dir: Path) -> dict[str, Any]:
    nft = parse_iptables_save((ns_dir / "iptables-save.txt").read_text())
    legacy = parse_iptables_save((ns_dir / "iptables-legacy-save.txt").read_text())
    if has_neutron_chains(legacy) and not has_neutron_chains(nft):
        return {"collected": True, "backend": "legacy", "tables": legacy}
    return {"collected": True, "backend": "nft", "tables": nft}


def _namespace(ns_dir: Path) -> dict[str, Any]:
    return {
        "name": ns_dir.name,
        "status": "ok",
        "links": _json(ns_dir / "link.json"),
        "addresses": _json(ns_dir / "addr.json"),
        # route4-all.json is `ip -j route show table all`, which prints both families.
        "routes": {"4": _json(ns_dir / "route4-all.json"), "6": []},
        "rules": {"4": _json(ns_dir / "rule4.json"), "6": _json(ns_dir / "rule6.json")},
        "neighbours": _json(ns_dir / "neigh.json"),
        "neighbours_proxy": _json(ns_dir / "neigh-proxy.json"),
        "sysctls": _sysctls(ns_dir / "sysctl.txt"),
        "iptables": _iptables(ns_dir),
        "errors": [],
    }


def _ovsdb_rows(path: Path) -> list[dict[str, Any]]:
    body = json.loads(path.read_text())
    return [dict(zip(body["headings"], row, strict=True)) for row in body["data"]]


def _set(value: Any) -> list[Any]:
    if isinstance(value, list) and len(value) == 2 and value[0] == "set":
        return list(value[1])
    return [value]


def _ovs(host_dir: Path) -> dict[str, Any]:
    ovs_dir = host_dir / "ovs"
    bridges = []
    for row in _ovsdb_rows(ovs_dir / "bridges.json"):
        protocols = sorted(_set(row["protocols"]))
        flows_file = ovs_dir / f"flows-{row['name']}.of13.txt"
        bridges.append(
            {
                "name": row["name"],
                "datapath_type": row["datapath_type"],
                "protocols": protocols,
                "flow_protocol": "OpenFlow13",
                "flows": parse_dump_flows(flows_file.read_text()),
            }
        )
    interfaces_by_uuid = {}
    interfaces = []
    for row in _ovsdb_rows(ovs_dir / "interfaces.json"):
        interfaces_by_uuid[row["_uuid"][1]] = row["name"]
        interfaces.append(
            {
                "name": row["name"],
                "type": row["type"],
                "external_ids": dict(row["external_ids"][1]),
                "ofport": row["ofport"],
                "mac_in_use": row["mac_in_use"] if isinstance(row["mac_in_use"], str) else None,
            }
        )
    ports = []
    for row in _ovsdb_rows(ovs_dir / "ports.json"):
        tag = row["tag"] if isinstance(row["tag"], int) else None
        ifaces = [interfaces_by_uuid.get(u[1], u[1]) for u in _set(row["interfaces"])]
        ports.append({"name": row["name"], "tag": tag, "interfaces": ifaces})
    return {
        "available": True,
        "bridges": bridges,
        "ports": ports,
        "interfaces": interfaces,
        "errors": [],
    }


def _state(host_dir: Path) -> dict[str, Any]:
    def read(name: str, keys: tuple[str, str]) -> dict[str, Any]:
        path = host_dir / "state" / name
        if not path.exists():
            return {"status": "missing", "entries": []}
        entries = []
        for line in path.read_text().split():
            first, second = line.split(",", 1)
            entries.append(
                {keys[0]: first, keys[1]: int(second) if keys[1] == "priority" else second}
            )
        return {"status": "ok", "entries": entries}

    return {
        "state_path": "/var/lib/neutron",
        "fip_linklocal_networks": read("fip-linklocal-networks", ("router_id", "cidr")),
        "fip_priorities": read("fip-priorities", ("fip", "priority")),
    }


def load_capture(host_dir: Path) -> dict[str, Any]:
    """A schema-1 collector document built from one host's capture directory."""
    namespaces = [_namespace(d) for d in sorted((host_dir / "netns").iterdir()) if d.is_dir()]
    return {
        "schema": 1,
        "hostname": host_dir.name,
        "iproute2": "",
        "namespaces": namespaces,
        "ovs": _ovs(host_dir),
        "l3_agent_state": _state(host_dir),
        "errors": [],
    }
