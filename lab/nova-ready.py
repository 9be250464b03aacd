"""Wait until Nova can schedule onto every lab compute node, and say so.

Runs with the project's venv (openstacksdk), from the repo root (clouds.yaml there).
Usage: nova-ready.py --cloud dvr-lab [--wait SECONDS] [--discover CMD] HOST...
(HOST = the compute hosts' names). Waits for an enabled, up nova-compute on every HOST, then runs
CMD once (cells v2 host discovery), then waits for every HOST's hypervisor. Exit 1 with one line
per missing piece when the time runs out.
"""

import argparse
import shlex
import subprocess
import sys
import time

import openstack


def computes_up(conn):
    """The hosts with an enabled nova-compute that is up."""
    return {
        s.host
        for s in conn.compute.services(binary="nova-compute")
        if s.state == "up" and s.status == "enabled"
    }


def hypervisors(conn):
    return {h.name for h in conn.compute.hypervisors()}


def wait_for(what, probe, hosts, deadline):
    """Poll probe() until it holds every host; the hosts still missing (empty on success)."""
    while True:
        missing = sorted(set(hosts) - probe())
        if not missing or time.monotonic() > deadline:
            return [f"{h}: no {what}" for h in missing]
        time.sleep(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cloud", required=True)
    ap.add_argument("--wait", type=float, default=120)
    ap.add_argument("--discover", default="")
    ap.add_argument("hosts", nargs="+")
    args = ap.parse_args()
    started = time.monotonic()
    deadline = started + args.wait
    conn = openstack.connect(cloud=args.cloud)
    missing = wait_for("nova-compute up", lambda: computes_up(conn), args.hosts, deadline)
    if not missing and args.discover:
        subprocess.run(shlex.split(args.discover), check=True, capture_output=True, timeout=120)
    if not missing:
        missing = wait_for("hypervisor in cell1", lambda: hypervisors(conn), args.hosts, deadline)
    if missing:
        print("\n".join(missing))
        return 1
    took = time.monotonic() - started
    print(f"nova: {len(args.hosts)} computes up and discovered in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
