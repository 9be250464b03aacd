"""Health of the lab as a cloud user sees it: API reachable, every expected agent alive.

Runs with the project's venv (openstacksdk), from the repo root (clouds.yaml there).
Usage: health.py --cloud dvr-lab [--wait SECONDS] [--dhcp HOST]... [--state DIR] HOST...
(HOST = Neutron host names expected). Exit 0 when every HOST has an alive Open vSwitch agent and
L3 agent, every --dhcp HOST an alive DHCP agent, and no agent is dead. With --state (the lab's
state directory, root): also each node's OVS, where an interface whose iface-id names no Neutron
port is a problem (a VM Nova would have deleted; userspace OVS spins on its dead tap), and each
node's ovs-vswitchd CPU over one second, and Nova's services (a service that is not up is a
problem) and hypervisors when the cloud has compute.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import openstack

AGENT_TYPES = ("Open vSwitch agent", "L3 agent")


def snapshot(cloud):
    conn = openstack.connect(cloud=cloud)
    return [
        (a.host, a.agent_type, bool(a.is_alive), (a.configuration or {}).get("agent_mode", ""))
        for a in conn.network.agents()
    ]


def problems(agents, hosts, dhcp_hosts=()):
    have = {(h, t): alive for h, t, alive, _ in agents}
    want = [(h, t) for h in hosts for t in AGENT_TYPES] + [(h, "DHCP agent") for h in dhcp_hosts]
    out = [f"{h}: no {t}" for h, t in want if (h, t) not in have]
    out += [f"{h}: {t} dead" for (h, t), alive in sorted(have.items()) if not alive]
    return out


def node_pids(state, suffix):
    """{node: pid} of the lab processes recorded as <node><suffix>.pid in the state directory."""
    return {
        f.name[: -len(suffix + ".pid")]: int(f.read_text().split()[0])
        for f in sorted(Path(state, "pids").glob(f"*{suffix}.pid"))
    }


def ovs_iface_ids(anchor_pid):
    """{interface name: iface-id} of the OVS interfaces of the node whose anchor is anchor_pid."""
    out = subprocess.run(
        ["nsenter", "-t", str(anchor_pid), "-m", "-n", "-u", "--", "ovs-vsctl", "--timeout=10",
         "--format=csv", "--no-headings", "--data=bare", "--columns=name,external_ids",
         "find", "Interface", 'external_ids:iface-id!=""'],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    ids = {}
    for line in out.splitlines():
        name, _, extids = line.partition(",")
        for pair in extids.strip('"').split():
            if pair.startswith("iface-id="):
                ids[name] = pair.split("=", 1)[1]
    return ids


def stale_ports(plugged, live):
    """Problems for the OVS interfaces ({node: {name: iface-id}}) naming no live Neutron port."""
    return [
        f"{node}: OVS interface {name} is plugged for Neutron port {pid}, which no longer exists"
        f" (delete it: ovs-vsctl del-port {name})"
        for node, ifaces in sorted(plugged.items())
        for name, pid in sorted(ifaces.items())
        if pid not in live
    ]


def cpu_percent(pids, seconds=1.0):
    """Percent of one core each process ({key: pid}) used over `seconds`."""

    def ticks(pid):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime

    before = {k: ticks(p) for k, p in pids.items()}
    time.sleep(seconds)
    return {k: (ticks(pids[k]) - t) / seconds for k, t in before.items()}  # USER_HZ = 100


def ovs_health(cloud, state):
    """Report lines and problems of every node's OVS: stale interfaces, vswitchd CPU."""
    vswitchds = node_pids(state, "-ovs-vswitchd")  # the nodes with OVS (not the probe host)
    anchors = node_pids(state, "-anchor")
    plugged = {node: ovs_iface_ids(anchors[node]) for node in vswitchds}
    live = {p.id for p in openstack.connect(cloud=cloud).network.ports()}  # after OVS: no race
    cpu = cpu_percent(vswitchds)
    lines = ["ovs-vswitchd CPU (% of a core, 1 s): "
             + " ".join(f"{n} {c:.0f}%" for n, c in sorted(cpu.items()))]  # fmt: skip
    lines += [f"OVS interfaces with a Neutron port: {sum(map(len, plugged.values()))}"]
    return lines, stale_ports(plugged, live)


def nova_health(cloud):
    """Report lines and problems of Nova's services (none when the cloud has no compute)."""
    conn = openstack.connect(cloud=cloud)
    if not conn.has_service("compute"):
        return [], []
    services = sorted(conn.compute.services(), key=lambda s: (s.binary, s.host))
    lines = [f"nova services: {sum(s.state == 'up' for s in services)}/{len(services)} up"]
    lines += [f"  {s.host:28} {s.binary:20} {s.state:6} {s.status}" for s in services]
    hypervisors = sorted(h.name for h in conn.compute.hypervisors())
    lines.append(f"hypervisors: {' '.join(hypervisors) or 'none'}")
    errs = [
        f"{s.host}: {s.binary} {s.state}{' (forced down)' if s.is_forced_down else ''}"
        for s in services
        if s.state != "up"
    ]
    return lines, errs


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--cloud", default="dvr-lab")
    ap.add_argument("--wait", type=float, default=0)
    ap.add_argument("--dhcp", action="append", default=[], help="a host with a DHCP agent")
    ap.add_argument("--state", help="the lab's state directory: check every node's OVS too")
    ap.add_argument("hosts", nargs="*")
    args = ap.parse_args(argv)
    deadline = time.monotonic() + args.wait
    start = time.monotonic()
    while True:
        try:
            agents = snapshot(args.cloud)
            errs = problems(agents, args.hosts, args.dhcp)
        except Exception as exc:  # API not reachable (yet)
            agents, errs = None, [f"API: {type(exc).__name__}: {exc}"]
        if not errs or time.monotonic() >= deadline:
            break
        time.sleep(1)
    if agents is not None:
        print(f"API: reachable (cloud {args.cloud})")
        alive = sum(1 for a in agents if a[2])
        print(f"agents: {alive}/{len(agents)} alive after {time.monotonic() - start:.1f} s")
        for host, typ, ok, mode in sorted(agents):
            print(f"  {host:28} {typ:20} {'alive' if ok else 'DEAD':6} {mode}")
    if args.state and agents is not None:
        lines, stale = ovs_health(args.cloud, args.state)
        print("\n".join(lines))
        errs += stale
        lines, down = nova_health(args.cloud)
        print("\n".join(lines))
        errs += down
    for e in errs:
        print(f"PROBLEM: {e}")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
