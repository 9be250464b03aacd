"""Health of the lab as a cloud user sees it: API reachable, every expected agent alive.

Runs with the project's venv (openstacksdk), from the repo root (clouds.yaml there).
Usage: health.py --cloud dvr-lab [--wait SECONDS] [--dhcp HOST]... HOST...
(HOST = Neutron host names expected). Exit 0 when every HOST has an alive Open vSwitch agent and
L3 agent, every --dhcp HOST an alive DHCP agent, and no agent is dead.
"""

import argparse
import sys
import time

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


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--cloud", default="dvr-lab")
    ap.add_argument("--wait", type=float, default=0)
    ap.add_argument("--dhcp", action="append", default=[], help="a host with a DHCP agent")
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
    for e in errs:
        print(f"PROBLEM: {e}")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
