"""Lab benchmark: time from nothing to healthy and memory (PSS) per topology.

    sudo .venv/bin/python tools/bench_lab.py [--topology default,aio,seed] [--keep] [--json FILE]
    sudo .venv/bin/python tools/bench_lab.py --pss-only      # PSS of the lab that is up now

For each topology: `make lab-down` (untimed), then `make lab-up LAB_TOPOLOGY=<t>` timed until it
returns (it returns once the API answers and every agent is alive), then after a short settle the
PSS of every lab process (the lab cgroup, read from /proc/<pid>/smaps_rollup), grouped by kind;
then again with the lab tests' scenario in place (router, networks, a VM per compute, a FIP:
the agents' privsep helpers and dnsmasq are running then).
Packages must already be installed (run `make lab-up` once before). Not a timed test.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STATE = Path("/var/lib/dvr-lab")

KINDS = [
    ("neutron-openvswitch-agent", "ovs agent"),
    ("neutron-l3-agent", "l3 agent"),
    ("privsep-helper", "privsep helper"),
    ("neutron-rpc-server", "neutron rpc server"),
    ("neutron-periodic-workers", "neutron periodic workers"),
    ("neutron.wsgi", "neutron api (uwsgi)"),
    ("neutron/uwsgi.ini", "neutron api (uwsgi)"),
    ("keystone/uwsgi.ini", "keystone (uwsgi)"),
    ("mariadbd", "mariadb"),
    ("beam.smp", "rabbitmq"),
    ("epmd", "rabbitmq"),
    ("erl_child_setup", "rabbitmq"),
    ("inet_gethost", "rabbitmq"),
    ("ovs-vswitchd", "ovs-vswitchd"),
    ("ovsdb-server", "ovsdb-server"),
    ("sshd", "sshd"),
]


def lab_pids():
    cg = (STATE / "cgroup").read_text().strip()
    return [int(p) for p in Path(cg, "cgroup.procs").read_text().split()]


def kind_of(pid):
    try:
        cmd = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return None
    for needle, kind in KINDS:
        if needle in cmd:
            return kind
    return "other"


def pss_kib(pid):
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    m = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


def pss_report():
    by_kind = defaultdict(lambda: [0, 0])
    for pid in lab_pids():
        kind = kind_of(pid)
        if kind is None:
            continue
        by_kind[kind][0] += 1
        by_kind[kind][1] += pss_kib(pid)
    total = sum(v[1] for v in by_kind.values())
    return {
        "total_mib": round(total / 1024, 1),
        "by_kind": {
            k: {"processes": n, "mib": round(kib / 1024, 1)}
            for k, (n, kib) in sorted(by_kind.items())
        },
    }


def pss_with_scenario():
    sys.path.insert(0, str(REPO / "tests" / "lab"))
    import openstack
    import scenario

    conn = openstack.connect(cloud="dvr-lab")
    inventory = scenario.load_inventory()
    made = {}
    try:
        scenario.build(conn, inventory, sorted(inventory["groups"]["computes"]), made, "bench")
        deadline = time.monotonic() + 90
        while conn.network.get_ip(made["fips"][0].id).status != "ACTIVE":
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        time.sleep(10)
        return pss_report()
    finally:
        scenario.remove(conn, made)


def make(*args):
    return subprocess.run(["make", "-s", *args], cwd=REPO, capture_output=True, text=True)


def bench(topology, keep):
    res = make("lab-down")
    if res.returncode:
        sys.exit(f"lab-down failed:\n{res.stdout}\n{res.stderr}")
    t0 = time.monotonic()
    res = make("lab-up", f"LAB_TOPOLOGY={topology}")
    took = time.monotonic() - t0
    if res.returncode:
        sys.exit(f"lab-up ({topology}) failed:\n{res.stdout[-4000:]}\n{res.stderr}")
    phases = re.findall(r'"(\w+)\s+([\d.]+) s"', res.stdout)
    time.sleep(10)  # let start-up work finish before measuring
    idle = pss_report()
    loaded = pss_with_scenario()
    out = {
        "topology": topology,
        "up_seconds": round(took, 1),
        "phases": dict(phases),
        "pss": idle,
        "pss_with_scenario": loaded,
    }
    if not keep:
        make("lab-down")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--topology", default="default", help="comma-separated: default,aio,seed")
    ap.add_argument("--keep", action="store_true", help="leave the last lab up")
    ap.add_argument("--pss-only", action="store_true", help="only measure the lab that is up now")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    os.chdir(REPO)  # clouds.yaml (entry dvr-lab) is at the repo root
    if args.pss_only:
        results = [{"topology": "current", "pss": pss_report()}]
    else:
        topologies = args.topology.split(",")
        results = [
            bench(t, args.keep and i == len(topologies) - 1) for i, t in enumerate(topologies)
        ]
    for r in results:
        head = f"topology {r['topology']}"
        if "up_seconds" in r:
            head += f": healthy after {r['up_seconds']} s"
        head += f"; PSS {r['pss']['total_mib']} MiB"
        if "pss_with_scenario" in r:
            head += f", {r['pss_with_scenario']['total_mib']} MiB with the test scenario"
        print(head)
        for phase, secs in r.get("phases", {}).items():
            print(f"  phase {phase:10} {secs:>6} s")
        for kind, v in r["pss"]["by_kind"].items():
            print(f"  {kind:26} {v['processes']:3} proc {v['mib']:8.1f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
