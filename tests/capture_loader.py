"""A real capture directory (tests/fixtures/neutron-29-lab/<host>/) as a collector document.

The captures are the real outputs of the very commands `dvr_collect` runs (`ip -j ...`,
`iptables-save`, `ovs-vsctl --format=json`, `ovs-ofctl dump-flows`, `cat` of the agent's state
files). `replay_runner` answers each command the collector issues with the captured output, so
`load_capture` is the collector's own result on that node, not a re-arrangement of it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from dvr_collect import SYSCTL_SCRIPT, collect_node

from dvr_verify.provision import ProvisionedVM

FIXTURES = Path(__file__).parent / "fixtures"
LAB29 = FIXTURES / "neutron-29-lab"
LAB29_HOSTS = ("node-11.example.local", "node-12.example.local")
# node-12's "VMs" (namespaces vm, vm2) were not captured: they are not Neutron's.
L3_NAMESPACES = ["qrouter-*", "snat-*", "fip-*"]

NFT, LEGACY = "/usr/sbin/iptables-nft-save", "/usr/sbin/iptables-legacy-save"

IP_FILES = {
    ("-j", "-d", "link", "show"): "link.json",
    ("-j", "addr", "show"): "addr.json",
    ("-4", "-j", "route", "show", "table", "all"): "route4-all.json",
    ("-6", "-j", "route", "show", "table", "all"): "route6-all.json",
    ("-4", "-j", "rule", "show"): "rule4.json",
    ("-6", "-j", "rule", "show"): "rule6.json",
    ("-j", "neigh", "show"): "neigh.json",
    ("-j", "neigh", "show", "proxy"): "neigh-proxy.json",
}
OVS_TABLES = {"Bridge": "bridges.json", "Port": "ports.json", "Interface": "interfaces.json"}


def replay_runner(host_dir: Path, calls: list[list[str]]):
    def read(path: Path) -> tuple[int, str, str]:
        if not path.exists():
            return 1, "", f"cat: {path.name}: No such file or directory"
        return 0, path.read_text(), ""

    def run(argv: list[str]) -> tuple[int, str, str]:
        calls.append(argv)
        argv = list(argv)
        if argv == ["ip", "-V"]:
            return 0, "ip utility, iproute2-6.1.0, libbpf 1.1.2\n", ""
        if argv == ["ip", "-j", "link", "show", "lo"]:
            return 0, (host_dir / "root-link.json").read_text(), ""
        if argv == ["ip", "-j", "netns", "list"]:
            return 0, (host_dir / "netns.json").read_text(), ""
        if argv[:2] == ["sh", "-c"]:
            return 0, f"{NFT}\n{LEGACY}\n/usr/sbin/iptables-save\n", ""
        if argv[:2] == ["ip", "-n"]:
            ns_dir = host_dir / "netns" / argv[2]
            if not ns_dir.is_dir():
                return 255, "", f'Cannot open network namespace "{argv[2]}": No such file'
            return read(ns_dir / IP_FILES[tuple(argv[3:])])
        if argv[:3] == ["ip", "netns", "exec"]:
            ns_dir = host_dir / "netns" / argv[3]
            if argv[4:] == ["sh", "-c", SYSCTL_SCRIPT]:
                lines = (ns_dir / "sysctl.txt").read_text().splitlines()
                out = [
                    k.replace(".", "/") + ":" + v for k, _, v in (x.partition(" = ") for x in lines)
                ]
                return 0, "\n".join(out) + "\n", ""
            name = {NFT: "iptables-save.txt", LEGACY: "iptables-legacy-save.txt"}[argv[4]]
            return read(ns_dir / name)
        if argv[0] == "ovs-vsctl":
            table = argv[-1]
            return read(host_dir / "ovs" / OVS_TABLES[table])
        if argv[0] == "ovs-ofctl":
            return read(host_dir / "ovs" / f"flows-{argv[-1]}.of13.txt")
        if argv[0] == "cat":
            return read(host_dir / "state" / Path(argv[1]).name)
        raise AssertionError(f"unexpected command {argv}")

    return run


def load_capture(host_dir: Path) -> dict[str, Any]:
    """The schema-1 document `collect_node` returns on the captured node."""
    return collect_node(replay_runner(host_dir, []), {"namespaces": L3_NAMESPACES, "parallel": 1})


def capture_vm(name: str, fip: str | None, port: str, ip: str) -> ProvisionedVM:
    """A run's VM on node-12 of the capture, in its tenant subnet 10.0.111.0/24."""
    return ProvisionedVM(name, LAB29_HOSTS[1], port, "dev", "fa:16:3e:00:00:01", ip, 24,
                         "10.0.111.1", 1500, fip, "fip-id" if fip else None)  # fmt: skip


def capture_run_dir(run_dir: Path) -> Path:
    """`run_dir` with the capture's api/ and nodes/<host>.json: an audit's directory (no
    resources.json)."""
    shutil.copytree(LAB29 / "api", run_dir / "api")
    (run_dir / "nodes").mkdir()
    for host in LAB29_HOSTS:
        (run_dir / "nodes" / f"{host}.json").write_text(json.dumps(load_capture(LAB29 / host)))
    return run_dir
