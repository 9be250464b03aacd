"""Re-capture real fixtures from the running lab (make lab-up) into tests/fixtures/<name>/.

    sudo .venv/bin/python tools/recapture_fixtures.py [--build] [--keep] [--out DIR]

--build first creates the fixture scenario of tests/fixtures/neutron-29-lab (external network,
VLAN tenant network, distributed router with a gateway, two lab VMs on the first compute, a
floating IP on the first VM) through the API and the lab_vm role, and removes it afterwards
(unless --keep). Without --build, whatever the lab holds now is captured.

The layout is the one tests/capture_loader.py replays: for each Neutron node the raw output of
every command `collect_node` (module_utils/dvr_collect.py) runs there, recorded while the real
collector runs inside the node (nsenter into its namespaces), plus `ip -j -d link`, `ovs-vsctl
show` and default-format flow dumps; the collector's own document as collect.json; the API
(GET /v2.0/...) as api/*.json; probes from the probe host and the VMs as probes/*.txt.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "module_utils"))
sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(REPO / "tests"))

import scenario  # noqa: E402

# The layout is the replay loader's: one definition for writer and reader.
from capture_loader import IP_FILES, OVS_TABLES  # noqa: E402
from capture_loader import L3_NAMESPACES as NAMESPACES  # noqa: E402
from dvr_collect import SYSCTL_SCRIPT, collect_node, subprocess_runner  # noqa: E402

STATE = Path("/var/lib/dvr-lab")
API = ("routers", "ports", "floatingips", "networks", "subnets", "agents")


def node_prefix(short):
    pid = (STATE / "pids" / f"{short}-anchor.pid").read_text().split()[0]
    return ["nsenter", "-t", pid, "-m", "-n", "-u", "--"]


def run_in(prefix, argv):
    return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=60).stdout


def fixture_file(argv):
    """Where the output of one collector command goes (relative path), or None."""
    if argv == ["ip", "-j", "netns", "list"]:
        return "netns.json"
    if argv[:2] == ["ip", "-n"] and tuple(argv[3:]) in IP_FILES:
        return f"netns/{argv[2]}/{IP_FILES[tuple(argv[3:])]}"
    if argv[:3] == ["ip", "netns", "exec"]:
        if argv[4:] == ["sh", "-c", SYSCTL_SCRIPT]:
            return f"netns/{argv[3]}/sysctl.txt"
        if argv[4].endswith("-save"):
            legacy = "legacy" in Path(argv[4]).name
            return f"netns/{argv[3]}/iptables{'-legacy' if legacy else ''}-save.txt"
    if argv[0].endswith("ovs-vsctl") and argv[-1] in OVS_TABLES:
        return f"ovs/{OVS_TABLES[argv[-1]]}"
    if argv[0].endswith("ovs-ofctl") and "dump-flows" in argv:
        return f"ovs/flows-{argv[-1]}.of13.txt"
    if argv[0] == "cat":
        return f"state/{Path(argv[1]).name}"
    return None


def sysctl_as_text(out):
    """The collector's `key/path:value` lines as the fixture's `key.path = value` lines."""
    lines = []
    for line in out.splitlines():
        key, _, value = line.partition(":")
        lines.append(f"{key.replace('/', '.')} = {value}")
    return "\n".join(lines) + "\n"


def capture_node(short, host_dir):
    prefix = node_prefix(short)

    def record(argv):
        rc, out, err = subprocess_runner([*prefix, *argv])
        rel = fixture_file(list(argv))
        if rel and rc == 0:
            path = host_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(sysctl_as_text(out) if rel.endswith("sysctl.txt") else out)
        return rc, out, err

    doc = collect_node(record, {"namespaces": NAMESPACES, "parallel": 1})
    doc["hostname"] = run_in(prefix, ["hostname", "-f"]).strip()
    (host_dir / "collect.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    (host_dir / "root-link.json").write_text(run_in(prefix, ["ip", "-j", "-d", "link"]))
    (host_dir / "ovs" / "vsctl-show.txt").write_text(run_in(prefix, ["ovs-vsctl", "show"]))
    for br in run_in(prefix, ["ovs-vsctl", "list-br"]).split():
        flows = run_in(prefix, ["ovs-ofctl", "dump-flows", br])
        (host_dir / "ovs" / f"flows-{br}.txt").write_text(flows)
    return doc


def capture_api(conn, out):
    api = out / "api"
    api.mkdir(parents=True, exist_ok=True)
    for res in API:
        body = conn.network.get(f"/{res}").json()
        (api / f"{res}.json").write_text(json.dumps(body) + "\n")
    routers = conn.network.get("/routers").json()["routers"]
    for r in routers:
        body = conn.network.get(f"/routers/{r['id']}/l3-agents").json()
        name = "router-l3-agents.json" if len(routers) == 1 else f"router-l3-agents-{r['id']}.json"
        (api / name).write_text(json.dumps(body) + "\n")


def capture_probes(conn, inventory, made, out):
    probes = out / "probes"
    probes.mkdir(parents=True, exist_ok=True)
    probe = node_prefix("probe")
    internet = inventory["vars"]["lab_internet_address"]
    for fip in conn.network.ips():
        a = fip.floating_ip_address
        (probes / f"arping-{a}-from-probe.txt").write_text(
            run_in(probe, ["arping", "-c", "2", "-w", "5", "-I", "eth-ext", a])
        )
        (probes / f"ping-{a}-from-probe.txt").write_text(run_in(probe, ["ping", "-c", "3", a]))
    for vm in made.get("vms", []):
        node = node_prefix(vm["host"].split(".")[0])
        tr = run_in(
            node, ["ip", "netns", "exec", f"vm-{vm['port'].id[:11]}", "traceroute", "-n", internet]
        )
        (probes / f"traceroute-{vm['name']}.txt").write_text(tr)


def write_readme(out, inventory, made):
    v = inventory["vars"]
    nodes = sorted({h for g in ("network_nodes", "computes") for h in inventory["groups"][g]})
    kernel = subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    internet = v.get("lab_internet_address")
    scen = "2 lab VMs on the first compute, a FIP on the first (--build)" if made else "as found"
    text = f"""# Real DVR state captured from the lab (tools/recapture_fixtures.py)

Captured {when} from `make lab-up`, topology `{v.get("lab_topology")}`: {", ".join(nodes)};
neutron and keystone as pinned in roles/lab_up/defaults/main.yml (ML2/OVS, DVR, Open vSwitch
userspace datapath). Tenant network type {v.get("lab_tenant_network_type", "vlan")}, DHCP agent
{"on the network nodes" if v.get("lab_dhcp_agent") else "off"}, firewall driver
{v.get("lab_firewall_driver", "?")}, kernel {kernel}. Scenario: {scen}. Nothing here was edited
by hand.

Layout as in ../neutron-29-lab/ (replayed by tests/capture_loader.py): per node the raw outputs
of the collector's commands, `root-link.json`, `ovs/vsctl-show.txt`, `ovs/flows-<br>.txt`, and
`collect.json` (the collector's document on that node); `api/` (GET /v2.0/...); `probes/`
(from the probe host on the external network; traceroutes from the VMs to {internet}).
"""
    title, *paras = text.split("\n\n")
    paras = [textwrap.fill(" ".join(p.split()), 100) for p in paras]
    (out / "README.md").write_text("\n\n".join([title, *paras]) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, help="default: tests/fixtures/lab-<topology>")
    ap.add_argument("--build", action="store_true", help="create the fixture scenario first")
    ap.add_argument("--keep", action="store_true", help="with --build: leave the scenario")
    args = ap.parse_args(argv)
    os.chdir(REPO)  # clouds.yaml (entry dvr-lab) is at the repo root
    if not scenario.INVENTORY.exists():
        sys.exit("the lab is not up: run `make lab-up` first")
    import openstack

    inventory = scenario.load_inventory()
    out = args.out or REPO / "tests" / "fixtures" / f"lab-{inventory['vars']['lab_topology']}"
    conn = openstack.connect(cloud="dvr-lab")
    made = {}
    try:
        if args.build:
            first = sorted(inventory["groups"]["computes"])[0]
            scenario.build(conn, inventory, [first, first], made, prefix="recap")
            for fip in made["fips"]:
                deadline = time.monotonic() + 90
                while conn.network.get_ip(fip.id).status != "ACTIVE":
                    if time.monotonic() > deadline:
                        sys.exit(f"FIP {fip.floating_ip_address} did not become ACTIVE")
                    time.sleep(1)
            time.sleep(5)  # let the agents finish plumbing
        out.mkdir(parents=True, exist_ok=True)
        capture_api(conn, out)
        for group in ("network_nodes", "computes"):
            for host in sorted(inventory["groups"][group]):
                host_dir = out / host
                if not host_dir.exists():
                    host_dir.mkdir(parents=True)
                    capture_node(host.split(".")[0], host_dir)
                    print(f"captured {host}")
        capture_probes(conn, inventory, made, out)
        write_readme(out, inventory, made)
        print(f"fixtures written to {out}")
    finally:
        if made and not args.keep:
            scenario.remove(conn, made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
