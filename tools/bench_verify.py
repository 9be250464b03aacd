"""Verification cost against the number of floating IPs, on the running lab (not a timed test).

    .venv/bin/python tools/bench_verify.py [--fips 1,10,50] [--repeat 3] [--json FILE]

For each count: verify_dvr.yml provisions that many VMs with a FIP (spread over the computes, plus
the VM without FIP) and keeps them; playbooks/recheck.yml then collects, probes and checks them
again --repeat times (its phase times come from the run's timings.json); the median of each phase
is reported, then the run is cleaned up. Goal (issue 4): 50 FIPs cost at most twice what 1 costs,
and collect + probe + check of 50 stays under 10 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# collect starts the collector, which runs on during the probes; collect_wait waits for it.
PHASES = ("collect", "probe", "collect_wait", "check")


def playbook(*args: str) -> None:
    cmd = [str(REPO / ".venv/bin/ansible-playbook"), *args]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if out.returncode not in (0, 2):  # 2: a check failed; the times still count
        sys.exit(f"{' '.join(args)}: failed\n{out.stdout[-3000:]}{out.stderr[-2000:]}")


def computes(inventory: Path) -> int:
    hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["lab"]["children"]
    return len(hosts["computes"]["hosts"])


def one_count(fips: int, per_compute: int, repeat: int) -> dict[str, object]:
    run_id = f"bench{fips}-{int(time.time())}"
    run_dir = REPO / "runs" / run_id
    start = time.monotonic()
    playbook(
        "verify_dvr.yml",
        "-e", f"dvr_verify_run_id={run_id}",
        "-e", "dvr_verify_keep=true",
        "-e", "dvr_verify_backend=lab",  # 50 TCG guests of 250 MB would not fit: lab VMs
        "-e", f"dvr_verify_vms_per_compute={per_compute}",
    )  # fmt: skip
    first = time.monotonic() - start
    made = json.loads((run_dir / "resources.json").read_text())
    try:
        samples = []
        for _ in range(repeat):
            playbook("playbooks/recheck.yml", "-e", f"dvr_verify_run_dir={run_dir}")
            samples.append(json.loads((run_dir / "timings.json").read_text()))
    finally:
        playbook("playbooks/cleanup.yml", "-e", f"dvr_verify_run_dir={run_dir}")
    median = {p: round(statistics.median(s[p] for s in samples), 2) for p in PHASES}
    return {
        "fips": sum(1 for vm in made["vms"] if vm["fip"]),
        "vms": len(made["vms"]),
        "verify_dvr_seconds": round(first, 1),
        **median,
        "total": round(sum(median.values()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fips", default="1,10,50")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    os.environ.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    n_computes = computes(REPO / "inventory/lab/hosts.yml")
    rows = []
    for wanted in (int(n) for n in args.fips.split(",")):
        rows.append(one_count(wanted, math.ceil(wanted / n_computes), args.repeat))
        print(json.dumps(rows[-1]), flush=True)
    print("\n  FIPs   VMs " + " ".join(f"{p:>12}" for p in PHASES) + "   total (s)")
    for r in rows:
        print(
            f"{r['fips']:>6} {r['vms']:>5} "
            + " ".join(f"{r[p]:>12}" for p in PHASES)
            + f" {r['total']:>11}"
        )
    if len(rows) > 1:
        print(f"cost of {rows[-1]['fips']} / cost of {rows[0]['fips']}: "
              f"{rows[-1]['total'] / rows[0]['total']:.2f}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
