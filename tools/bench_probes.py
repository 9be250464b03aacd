#!/usr/bin/env python3
"""Time the ARP probe for 1, 10 and 50 floating IPs, all answered by proxy ARP, in one window.

Not a test. Needs root and scapy in the venv. Builds ``dvrbench-<random>-probe|fip|rtr``: the
probe namespace's eth0 (198.18.0.10/16) is a veth to the fip namespace's fg- device (proxy_arp=1,
proxy_delay=0, ip_forward=1) that routes the FIPs 198.18.1.1.. (/32) out of fpr- to the router
namespace, as Neutron does; everything is deleted at the end (also on Ctrl-C / SIGTERM). All
addresses stay inside the namespaces.

Prints, per target count, the median probe time inside one Python process (scapy already
imported; the window is count x interval + timeout whatever the number of targets) for the
module defaults and for a short window, and the wall time of the whole Ansible module run
(``ansible localhost -m dvr_arp_probe``, interpreter start and scapy import included).

    .venv/bin/python tools/bench_probes.py [--counts 1 10 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python")
if not os.path.exists(PYTHON):
    PYTHON = sys.executable
FG, FPR, RFP = "fg-8eefcfe7-86", "fpr-b0853bf0-1", "rfp-b0853bf0-1"
MAX_FIPS = 250

# Runs inside the probe namespace: repeat arp_probe per (count, settings), print JSON timings.
INNER = """
import json, sys, time
sys.path.insert(0, {utils!r})
import dvr_probe_common as c
c.load_scapy()
plan = json.loads(sys.argv[1])
out = []
for item in plan:
    times = []
    for _ in range(item["repeat"]):
        t0 = time.monotonic()
        arp = c.arp_probe("eth0", item["targets"], **item["options"])
        times.append(time.monotonic() - t0)
        answered = sum(1 for p in arp if {{r["mac"] for r in p["replies"]}} == {{item["mac"]}})
        if answered != len(item["targets"]):
            raise SystemExit("only %d of %d targets answered by %s" % (
                answered, len(item["targets"]), item["mac"]))
    out.append(times)
print(json.dumps(out))
"""


def sh(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def build(prefix: str, fips: list[str], created: list[str]) -> tuple[str, str]:
    probe, fip, rtr = (f"{prefix}-{role}" for role in ("probe", "fip", "rtr"))
    for ns in (probe, fip, rtr):
        sh("ip", "netns", "add", ns)
        created.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", probe, "link", "add", "eth0", "type", "veth", "peer", "name", FG, "netns", fip)
    sh("ip", "-n", fip, "link", "add", FPR, "type", "veth", "peer", "name", RFP, "netns", rtr)
    for ns, dev in ((probe, "eth0"), (fip, FG), (fip, FPR), (rtr, RFP)):
        sh("ip", "-n", ns, "link", "set", dev, "up")
    sh("ip", "-n", probe, "addr", "add", "198.18.0.10/16", "dev", "eth0")
    sh("ip", "-n", fip, "addr", "add", "198.18.0.2/16", "dev", FG)
    sh("ip", "-n", fip, "addr", "add", "169.254.64.1/31", "dev", FPR)
    sh("ip", "-n", rtr, "addr", "add", "169.254.64.0/31", "dev", RFP)
    sh(
        "ip", "netns", "exec", fip, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
        f"net.ipv4.conf.{FG}.proxy_arp=1", f"net.ipv4.neigh.{FG}.proxy_delay=0",
    )  # fmt: skip
    batch = "".join(f"route add {a}/32 via 169.254.64.0 dev {FPR}\n" for a in fips)
    proc = subprocess.run(
        ["ip", "-n", fip, "-batch", "-"], input=batch, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ip -batch: {proc.stderr.strip()}")
    mac = json.loads(sh("ip", "-n", fip, "-j", "link", "show", FG))[0]["address"]
    return probe, mac


def ansible_run(probe: str, targets: list[str]) -> float:
    args = {"interface": "eth0", "targets": targets}
    argv = ["ip", "netns", "exec", probe, str(Path(PYTHON).parent / "ansible"), "localhost",
            "-i", "localhost,", "-c", "local", "-m", "dvr_arp_probe",
            "-e", f"ansible_python_interpreter={PYTHON}", "-a", json.dumps(args)]  # fmt: skip
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"ansible dvr_arp_probe: {proc.stdout[-500:]}{proc.stderr[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_probes: needs root", file=sys.stderr)
        return 2
    if max(args.counts) > MAX_FIPS or min(args.counts) < 1:
        print(f"bench_probes: counts must be within 1..{MAX_FIPS}", file=sys.stderr)
        return 2

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    prefix = "dvrbench-" + secrets.token_hex(3)
    fips = [f"198.18.1.{i}" for i in range(1, max(args.counts) + 1)]
    counts = sorted(args.counts)
    settings = {
        "defaults (count=2 interval=0.2 timeout=2)": {},
        "short (count=1 timeout=0.3)": {"count": 1, "timeout": 0.3},
    }
    created: list[str] = []
    try:
        probe, mac = build(prefix, fips, created)
        plan = [
            {"targets": fips[:n], "options": opts, "repeat": args.repeat, "mac": mac}
            for opts in settings.values()
            for n in counts
        ]
        code = INNER.format(utils=str(REPO / "module_utils"))
        out = sh("ip", "netns", "exec", probe, PYTHON, "-c", code, json.dumps(plan))
        timings = json.loads(out)
        wall = {n: ansible_run(probe, fips[:n]) for n in counts}
    finally:
        for ns in reversed(created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    print(f"dvr_arp_probe: every target answered by proxy ARP; median of {args.repeat}")
    rows = iter(timings)
    for label in settings:
        print(f"  {label}")
        print(f"  {'targets':>8} {'median s':>9} {'min s':>7} {'max s':>7}")
        for n in counts:
            times = next(rows)
            print(
                f"  {n:>8} {statistics.median(times):>9.3f} {min(times):>7.3f} {max(times):>7.3f}"
            )
    print("  ansible -m dvr_arp_probe (defaults), wall time incl. interpreter and scapy import")
    for n in counts:
        print(f"  {n:>8} {wall[n]:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
