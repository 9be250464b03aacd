"""dvr_collect against the real kernel: throwaway namespaces that look like a DVR node's.

Runs as root. Every namespace is named ``dvrtest-<random>-...`` and is deleted afterwards;
nothing is routed out of the machine (all addresses live inside the test namespaces).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dvr_collect import (
    NO_JSON_MSG,
    IprouteNoJsonError,
    collect_node,
    subprocess_runner,
)

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]
ROUTER = "b0853bf0-1485-48a3-8d0d-f4f684bca6f8"
EXT_NET = "23ee3d3c-4d08-4331-8c9e-14579ebe3485"
RFP, FPR = "rfp-" + ROUTER[:10], "fpr-" + ROUTER[:10]
FG, QR = "fg-8eefcfe7-86", "qr-7e7c4608-4c"
RFP_IP, FPR_IP = "169.254.127.192", "169.254.127.193"
FG_CIDR, FIP, FIXED = "172.30.89.130/17", "172.30.89.152", "10.0.111.251"
FIXED_MAC = "fa:16:3e:a1:d9:da"
NO_BINARY = "/nonexistent/dvrtest"
FPR_TABLE = str(int(ipaddress.IPv4Address(FPR_IP)))  # neutron: table = int(fpr ip)


# The module runs under the system Python, as on a node (stdlib only).
NODE_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (builds network namespaces)"
    if shutil.which("ip") is None:
        return "iproute2 (ip) not installed"
    if subprocess.run(["ip", "netns", "list"], capture_output=True, check=False).returncode != 0:
        return "ip netns unavailable"
    return None


_REASON = _skip_reason()
if _REASON:
    pytestmark = [pytest.mark.kernel, pytest.mark.skip(reason=_REASON)]


def sh(*argv: str) -> str:
    """Run a setup command; fail loudly."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: rc={proc.returncode} {proc.stderr.strip()}")
    return proc.stdout


def add_netns(name: str, created: list[str]) -> None:
    sh("ip", "netns", "add", name)
    created.append(name)
    sh("ip", "-n", name, "link", "set", "lo", "up")


def delete_netns(names: list[str]) -> None:
    for name in names:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def add_dummy(ns: str, dev: str) -> None:
    """A dummy device; a veth with its peer in the same namespace where dummy is not built."""
    proc = subprocess.run(
        ["ip", "-n", ns, "link", "add", dev, "type", "dummy"], capture_output=True, check=False
    )
    if proc.returncode != 0:
        sh("ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", "p" + dev[1:])
        sh("ip", "-n", ns, "link", "set", "p" + dev[1:], "up")
    sh("ip", "-n", ns, "link", "set", dev, "up")


def iptables_backend() -> str:
    out = sh("iptables", "-V")
    return "nft" if "nf_tables" in out else "legacy"


class Lab:
    """Names of one test's namespaces."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.qrouter = f"{prefix}-qrouter-{ROUTER}"
        self.fip = f"{prefix}-fip-{EXT_NET}"
        self.other = f"{prefix}-other"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """qrouter- and fip- namespaces as DVR builds them, plus an unrelated one; always deleted."""
    lab = Lab("dvrtest-" + secrets.token_hex(4))
    created: list[str] = []
    try:
        for name in (lab.qrouter, lab.fip, lab.other):
            add_netns(name, created)
        q, f = lab.qrouter, lab.fip
        # rfp/fpr veth pair across the two namespaces, a link-local /31
        sh("ip", "-n", q, "link", "add", RFP, "type", "veth", "peer", "name", FPR, "netns", f)
        sh("ip", "-n", q, "addr", "add", RFP_IP + "/31", "dev", RFP)
        sh("ip", "-n", f, "addr", "add", FPR_IP + "/31", "dev", FPR)
        sh("ip", "-n", q, "link", "set", RFP, "up")
        sh("ip", "-n", f, "link", "set", FPR, "up")
        # fg- in fip-, qr- in qrouter-
        add_dummy(f, FG)
        sh("ip", "-n", f, "addr", "add", FG_CIDR, "dev", FG)
        add_dummy(q, QR)
        sh("ip", "-n", q, "addr", "add", "10.0.111.1/24", "dev", QR)
        for ns in (q, f):
            sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        sh("ip", "netns", "exec", f, "sysctl", "-q", "-w", f"net.ipv4.conf.{FG}.proxy_arp=1")
        # routes: table 16 in qrouter-, the per-router table in fip-, the FIP /32 in fip- main
        sh("ip", "-n", q, "route", "add", "default", "via", FPR_IP, "dev", RFP, "table", "16")
        sh("ip", "-n", f, "route", "add", FIP + "/32", "via", RFP_IP, "dev", FPR)
        sh(
            "ip",
            "-n",
            f,
            "route",
            "add",
            "default",
            "via",
            "172.30.0.1",
            "dev",
            FG,
            "table",
            FPR_TABLE,
        )
        sh("ip", "-n", q, "rule", "add", "from", FIXED, "lookup", "16", "priority", "48835")
        sh("ip", "-n", f, "rule", "add", "iif", FPR, "lookup", FPR_TABLE, "priority", FPR_TABLE)
        # neighbours: a PERMANENT entry on qr-, a proxy entry on fg-
        sh("ip", "-n", q, "neigh", "add", FIXED, "lladdr", FIXED_MAC, "dev", QR, "nud", "permanent")
        sh("ip", "-n", f, "neigh", "add", "proxy", FIP, "dev", FG)
        # iptables: DNAT in qrouter- nat, CT --notrack in fip- raw
        ipt = ["ip", "netns", "exec", q, "iptables", "-t", "nat"]
        sh(*ipt, "-N", "neutron-l3-agent-PREROUTING")
        sh(*ipt, "-A", "PREROUTING", "-j", "neutron-l3-agent-PREROUTING")
        sh(*ipt, "-A", "neutron-l3-agent-PREROUTING", "-d", FIP + "/32", "-i", RFP,
           "-j", "DNAT", "--to-destination", FIXED)  # fmt: skip
        ipt = ["ip", "netns", "exec", f, "iptables", "-t", "raw"]
        sh(*ipt, "-N", "neutron-l3-agent-PREROUTING")
        sh(*ipt, "-A", "PREROUTING", "-j", "neutron-l3-agent-PREROUTING")
        sh(*ipt, "-A", "neutron-l3-agent-PREROUTING", "-j", "CT", "--notrack")
        yield lab
    finally:
        delete_netns(created)


def collect(lab: Lab, **options: object) -> dict:
    opts: dict = {"namespaces": [lab.prefix + "-*"], "collect_ovs": False}
    opts.update(options)
    return collect_node(subprocess_runner, opts)


def by_name(doc: dict) -> dict[str, dict]:
    return {ns["name"]: ns for ns in doc["namespaces"]}


def link(ns: dict, name: str) -> dict:
    return next(item for item in ns["links"] if item["ifname"] == name)


def has_addr(ns: dict, dev: str, cidr: str) -> bool:
    local, plen = cidr.split("/")
    return any(
        a["ifname"] == dev and i["local"] == local and i["prefixlen"] == int(plen)
        for a in ns["addresses"]
        for i in a.get("addr_info", [])
    )


@pytest.fixture(scope="module")
def doc(lab: Lab) -> dict:
    return collect(lab)


def test_document_shape(doc: dict, lab: Lab) -> None:
    assert doc["schema"] == 1
    assert doc["hostname"] == socket.getfqdn()
    assert doc["iproute2"].startswith("ip utility")
    assert [ns["name"] for ns in doc["namespaces"]] == sorted([lab.qrouter, lab.fip, lab.other])
    for ns in doc["namespaces"]:
        assert ns["status"] == "ok", ns["errors"]
        assert ns["errors"] == []
        assert set(ns["routes"]) == set(ns["rules"]) == {"4", "6"}
        assert set(ns["iptables"]["tables"]) == {"nat", "raw", "mangle", "filter"}
    assert doc["ovs"]["collected"] is False
    assert doc["ovs"]["available"] is False


def test_veth_pair_across_namespaces(doc: dict, lab: Lab) -> None:
    nss = by_name(doc)
    rfp, fpr = link(nss[lab.qrouter], RFP), link(nss[lab.fip], FPR)
    assert rfp["linkinfo"]["info_kind"] == fpr["linkinfo"]["info_kind"] == "veth"
    # each end names the peer's namespace (netnsid) and ifindex
    assert isinstance(rfp["link_netnsid"], int)
    assert isinstance(fpr["link_netnsid"], int)
    assert rfp["link_index"] == fpr["ifindex"]
    assert fpr["link_index"] == rfp["ifindex"]


def test_addresses(doc: dict, lab: Lab) -> None:
    q, f = by_name(doc)[lab.qrouter], by_name(doc)[lab.fip]
    assert has_addr(q, RFP, RFP_IP + "/31")
    assert has_addr(f, FPR, FPR_IP + "/31")
    assert has_addr(f, FG, FG_CIDR)
    assert has_addr(q, QR, "10.0.111.1/24")


def test_routes_and_rules(doc: dict, lab: Lab) -> None:
    q, f = by_name(doc)[lab.qrouter], by_name(doc)[lab.fip]
    assert {"dst": "default", "gateway": FPR_IP, "dev": RFP, "table": "16"}.items() <= next(
        r for r in q["routes"]["4"] if r.get("table") == "16"
    ).items()
    assert any(
        r.get("table") == FPR_TABLE and r["dst"] == "default" and r["dev"] == FG
        for r in f["routes"]["4"]
    )
    assert any(r["dst"] == FIP and r.get("gateway") == RFP_IP for r in f["routes"]["4"])
    assert all(":" not in r["dst"] for r in q["routes"]["4"] if r["dst"] != "default")
    assert any(":" in r["dst"] for r in q["routes"]["6"])  # fe80::/64 etc. in table main/local
    assert {"priority": 48835, "src": FIXED, "table": "16"} in q["rules"]["4"]
    assert any(
        r["priority"] == int(FPR_TABLE) and r.get("iif") == FPR and r["table"] == FPR_TABLE
        for r in f["rules"]["4"]
    )
    assert {r["priority"] for r in q["rules"]["6"]} >= {0, 32766}


def test_neighbours(doc: dict, lab: Lab) -> None:
    q, f = by_name(doc)[lab.qrouter], by_name(doc)[lab.fip]
    entry = next(n for n in q["neighbours"] if n["dst"] == FIXED)
    assert entry["dev"] == QR
    assert entry["lladdr"] == FIXED_MAC
    assert "PERMANENT" in entry["state"]
    assert any(n["dst"] == FIP and n["dev"] == FG for n in f["neighbours_proxy"])
    assert q["neighbours_proxy"] == []


def test_sysctls(doc: dict, lab: Lab) -> None:
    q, f = by_name(doc)[lab.qrouter], by_name(doc)[lab.fip]
    assert f["sysctls"][f"net.ipv4.conf.{FG}.proxy_arp"] == "1"
    assert f["sysctls"][f"net.ipv4.conf.{FPR}.proxy_arp"] == "0"
    assert f["sysctls"]["net.ipv4.ip_forward"] == "1"
    assert by_name(doc)[lab.other]["sysctls"]["net.ipv4.ip_forward"] == "0"
    # multi-digit values come back whole (the kernel default proxy_delay is 80)
    assert q["sysctls"][f"net.ipv4.neigh.{RFP}.proxy_delay"] == "80"
    for key in (
        "net.ipv4.ip_nonlocal_bind",
        "net.ipv6.conf.all.forwarding",
        "net.ipv4.conf.all.arp_ignore",
        "net.ipv4.conf.all.arp_announce",
        "net.ipv4.conf.all.send_redirects",
        "net.ipv4.conf.all.rp_filter",
        "net.ipv4.conf.all.arp_filter",
        f"net.ipv4.conf.{QR}.forwarding",
        "net.netfilter.nf_conntrack_tcp_be_liberal",
        "net.netfilter.nf_conntrack_tcp_loose",
    ):
        assert key in q["sysctls"], key
    assert not any(".default." in key for key in q["sysctls"])


def test_iptables(doc: dict, lab: Lab) -> None:
    q, f = by_name(doc)[lab.qrouter], by_name(doc)[lab.fip]
    backend = iptables_backend()
    assert q["iptables"]["backend"] == f["iptables"]["backend"] == backend
    assert q["iptables"]["neutron_chains_in"] == [backend]
    (dnat,) = q["iptables"]["tables"]["nat"]["chains"]["neutron-l3-agent-PREROUTING"]["rules"]
    assert dnat["target"] == "DNAT"
    assert dnat["options"]["-d"] == FIP + "/32"
    assert dnat["options"]["-i"] == RFP
    assert dnat["options"]["--to-destination"] == FIXED
    (notrack,) = f["iptables"]["tables"]["raw"]["chains"]["neutron-l3-agent-PREROUTING"]["rules"]
    assert notrack["target"] == "CT"
    assert "--notrack" in notrack["options"]
    other = by_name(doc)[lab.other]["iptables"]
    assert other["backend"] is None
    assert other["neutron_chains_in"] == []


def test_pattern_filter(lab: Lab) -> None:
    doc = collect(lab, namespaces=[lab.prefix + "-qrouter-*"], collect_iptables=False)
    assert [ns["name"] for ns in doc["namespaces"]] == [lab.qrouter]
    assert doc["namespaces"][0]["iptables"]["collected"] is False
    doc = collect(lab, namespaces=[lab.prefix + "-fip-*", lab.prefix + "-oth?r"], parallel=1)
    assert [ns["name"] for ns in doc["namespaces"]] == [lab.fip, lab.other]


def test_vanished_namespace(lab: Lab) -> None:
    victim = lab.prefix + "-qrouter-vanishing"
    created: list[str] = []
    try:
        add_netns(victim, created)

        def runner(argv: list[str]) -> tuple[int, str, str]:
            if victim in argv:
                delete_netns([victim])
            return subprocess_runner(argv)

        doc = collect_node(runner, {"namespaces": [lab.prefix + "-*"], "collect_ovs": False})
    finally:
        delete_netns(created)
    nss = by_name(doc)
    assert nss[victim]["status"] == "vanished"
    assert nss[victim]["links"] == []
    assert nss[lab.qrouter]["status"] == "ok"
    assert nss[lab.fip]["status"] == "ok"


def test_iproute2_without_json(lab: Lab) -> None:
    def old_ip(argv: list[str]) -> tuple[int, str, str]:
        if "-j" in argv:
            return 255, "", 'Option "-j" is unknown, try "ip -help".\n'
        return subprocess_runner(argv)

    expected = NO_JSON_MSG.format(host=socket.getfqdn())
    assert expected.endswith("needs iproute2 >= 4.13 (Ubuntu 18.04+, RHEL 8+)")
    with pytest.raises(IprouteNoJsonError) as excinfo:
        collect_node(old_ip, {"namespaces": [lab.prefix + "-*"]})
    assert str(excinfo.value) == expected

    def text_ip(argv: list[str]) -> tuple[int, str, str]:  # -j silently ignored
        if "-j" in argv:
            return 0, "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue\n", ""
        return subprocess_runner(argv)

    with pytest.raises(IprouteNoJsonError, match=r"iproute2 has no JSON output \(ip -j\)"):
        collect_node(text_ip, {})


# --- the Ansible module -------------------------------------------------------------------


def _documented_return() -> dict:
    text = (REPO / "library" / "dvr_collect.py").read_text()
    start = text.index('RETURN = r"""') + len('RETURN = r"""')
    return yaml.safe_load(text[start : text.index('"""', start)])


def run_module(args: dict | str, *extra: str, env: dict | None = None) -> tuple[int, dict]:
    """``ansible localhost -m dvr_collect`` from the repo root; (rc, module result)."""
    ansible = Path(sys.executable).parent / "ansible"
    argv = [str(ansible), "localhost", "-i", "localhost,", "-c", "local", "-m", "dvr_collect"]
    argv += ["-e", "ansible_python_interpreter=" + NODE_PYTHON, *extra]
    argv += ["-a", args if isinstance(args, str) else json.dumps(args)]
    proc = subprocess.run(
        argv,
        cwd=REPO,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), **(env or {})),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # default callback: "localhost | SUCCESS => {...}" / "localhost | FAILED! => {...}"
    _head, sep, body = proc.stdout.partition(" => ")
    assert sep, proc.stdout + proc.stderr
    return proc.returncode, json.loads(body)


def test_ansible_module(lab: Lab) -> None:
    # OVS through a missing binary: only this machine's test namespaces are read
    args = {"namespaces": [lab.prefix + "-*"], "parallel": 4, "ovs_command_prefix": [NO_BINARY]}
    rc, result = run_module(args)
    assert rc == 0, result.get("msg")
    documented = _documented_return()
    assert set(documented) <= set(result)
    assert result["changed"] is False
    for section in ("ovs", "l3_agent_state"):
        assert set(documented[section]["contains"]) <= set(result[section]), section
    ns_keys = set(documented["namespaces"]["contains"])
    assert [ns["name"] for ns in result["namespaces"]] == sorted([lab.qrouter, lab.fip, lab.other])
    for ns in result["namespaces"]:
        assert ns_keys <= set(ns)
        assert set(documented["namespaces"]["contains"]["iptables"]["contains"]) <= set(
            ns["iptables"]
        )
        assert ns["status"] == "ok", ns["errors"]
    q = next(ns for ns in result["namespaces"] if ns["name"] == lab.qrouter)
    assert {"priority": 48835, "src": FIXED, "table": "16"} in q["rules"]["4"]
    assert result["ovs"]["available"] is False
    assert result["ovs"]["errors"][0]["rc"] == 127


def test_ansible_module_check_mode_and_kv_args(lab: Lab) -> None:
    # the ad hoc k=v form with a JSON list, as in `-a 'namespaces=["dvrtest-*"]'`
    rc, result = run_module(f'namespaces=["{lab.prefix}-q*"] collect_ovs=no', "--check")
    assert rc == 0, result.get("msg")
    assert result["changed"] is False
    assert [ns["name"] for ns in result["namespaces"]] == [lab.qrouter]


def test_ansible_module_old_iproute2(tmp_path: Path) -> None:
    fake = tmp_path / "ip"
    fake.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do [ "$a" = -j ] && { echo \'Option "-j" is unknown\' >&2; exit 255; }; '
        "done\n"
        'echo "ip utility, iproute2-ss161212"\n'
    )
    fake.chmod(0o755)
    rc, result = run_module(
        {"collect_ovs": False}, env={"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    )
    assert rc != 0, result
    assert result["msg"] == NO_JSON_MSG.format(host=socket.getfqdn())


# --- a private Open vSwitch ------------------------------------------------------------------

OVS_START = """set -e
mount -t tmpfs dvrtest-ovs /run/openvswitch
ovsdb-tool create "$1/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server "$1/conf.db" --remote=punix:/run/openvswitch/db.sock --pidfile="$1/ovsdb-server.pid" \
    --detach --no-chdir --log-file="$1/ovsdb-server.log" -vconsole:off
ovs-vsctl --no-wait --timeout=20 init
ovs-vswitchd unix:/run/openvswitch/db.sock --pidfile="$1/ovs-vswitchd.pid" \
    --detach --no-chdir --log-file="$1/ovs-vswitchd.log" -vconsole:off
"""
OVS_TOOLS = ("ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "unshare")
OVS_BRIDGE, OVS_PORT = "br-dvrtest", "qr-dvrtest0"
OVS_FLOW = (
    "table=1,priority=5,dl_src=fa:16:3f:00:00:01 actions=mod_dl_src:fa:16:3f:00:00:02,resubmit(,2)"
)


def _kill_daemon(pidfile: Path, workdir: Path) -> None:
    """SIGTERM (then SIGKILL) the daemon of a pidfile we created, if it still is ours."""
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().split()[0])
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists() or str(workdir).encode() not in cmdline.read_bytes():
        return  # gone, or the pid was reused by something else
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not cmdline.exists():
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def private_ovs(tmp_path: Path) -> Iterator[list[str]]:
    """ovsdb-server + ovs-vswitchd in their own mount and network namespaces (tmpfs on
    /run/openvswitch, DB in tmp_path); yields the nsenter prefix; kills only their PIDs."""
    missing = [tool for tool in OVS_TOOLS if shutil.which(tool) is None]
    if missing or not Path("/run/openvswitch").is_dir():
        pytest.skip(f"Open vSwitch not installed ({', '.join(missing) or '/run/openvswitch'})")
    try:
        proc = subprocess.run(
            [
                "unshare",
                "--mount",
                "--net",
                "--propagation",
                "private",
                "sh",
                "-c",
                OVS_START,
                "sh",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot start a private Open vSwitch: {proc.stderr.strip()[-500:]}")
        pid = (tmp_path / "ovsdb-server.pid").read_text().split()[0]
        yield ["nsenter", "-t", pid, "-m", "-n"]
    finally:
        _kill_daemon(tmp_path / "ovs-vswitchd.pid", tmp_path)
        _kill_daemon(tmp_path / "ovsdb-server.pid", tmp_path)


def test_ovs(private_ovs: list[str]) -> None:
    vsctl = [*private_ovs, "ovs-vsctl", "--timeout=20"]
    sh(*vsctl, "add-br", OVS_BRIDGE, "--", "set", "Bridge", OVS_BRIDGE, "datapath_type=netdev",
       "protocols=OpenFlow10,OpenFlow13")  # fmt: skip
    sh(*vsctl, "add-port", OVS_BRIDGE, OVS_PORT, "tag=5",
       "--", "set", "Interface", OVS_PORT, "type=internal",
       "external_ids:iface-id=7e7c4608-4c2f-496b-a366-334ca0758504",
       "external_ids:attached-mac=fa:16:3e:7a:f3:81",
       "--", "set", "Port", OVS_PORT, "external_ids:dvrtest=yes",
       "other_config:net_uuid=951d0ba8-00c6-4e52-b220-ca0bf15960e4")  # fmt: skip
    sh(*private_ovs, "ovs-ofctl", "-O", "OpenFlow13", "add-flow", OVS_BRIDGE, OVS_FLOW)

    doc = collect_node(
        subprocess_runner,
        {"namespaces": ["dvrtest-none-*"], "ovs_command_prefix": private_ovs},
    )
    ovs = doc["ovs"]
    assert ovs["available"] is True, ovs["errors"]
    assert ovs["errors"] == []
    (bridge,) = ovs["bridges"]
    assert bridge["name"] == OVS_BRIDGE
    assert bridge["datapath_type"] == "netdev"
    assert sorted(bridge["protocols"]) == ["OpenFlow10", "OpenFlow13"]
    assert bridge["flow_protocol"] == "OpenFlow13"
    assert bridge["ports"] == sorted([OVS_BRIDGE, OVS_PORT])
    flow = next(f for f in bridge["flows"] if f["table"] == 1)
    assert flow["priority"] == 5
    assert flow["match"] == {"dl_src": "fa:16:3f:00:00:01"}
    assert flow["actions"] == ["mod_dl_src:fa:16:3f:00:00:02", "resubmit(,2)"]
    assert "n_packets" not in flow["raw"]
    assert "eth_src" in flow["raw"]  # dumped with OpenFlow13, normalised to the OF1.0 spelling
    port = next(p for p in ovs["ports"] if p["name"] == OVS_PORT)
    assert port["tag"] == 5
    assert port["bridge"] == OVS_BRIDGE
    assert port["interfaces"] == [OVS_PORT]
    assert port["external_ids"] == {"dvrtest": "yes"}
    assert port["other_config"] == {"net_uuid": "951d0ba8-00c6-4e52-b220-ca0bf15960e4"}
    iface = next(i for i in ovs["interfaces"] if i["name"] == OVS_PORT)
    assert iface["type"] == "internal"
    assert iface["external_ids"]["iface-id"] == "7e7c4608-4c2f-496b-a366-334ca0758504"
    assert iface["external_ids"]["attached-mac"] == "fa:16:3e:7a:f3:81"
    assert isinstance(iface["ofport"], int) and iface["ofport"] > 0
    assert iface["error"] is None
    root = next(p for p in ovs["ports"] if p["name"] == OVS_BRIDGE)
    assert root["tag"] is None


def test_ovs_missing() -> None:
    doc = collect_node(
        subprocess_runner,
        {"namespaces": ["dvrtest-none-*"], "ovs_command_prefix": [NO_BINARY]},
    )
    assert doc["ovs"]["collected"] is True
    assert doc["ovs"]["available"] is False
    assert doc["ovs"]["bridges"] == doc["ovs"]["ports"] == doc["ovs"]["interfaces"] == []
    (error,) = doc["ovs"]["errors"]
    assert error["rc"] == 127
    assert "ovs-vsctl" in error["command"]
