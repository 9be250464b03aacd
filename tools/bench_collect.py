#!/usr/bin/env python3
"""Time dvr_collect on 1, 10 and 100 qrouter-like namespaces built on this machine's kernel.

Not a test. Needs root. Every namespace is named ``dvrbench-<random>-qrouter-<n>`` and is deleted
at the end (also on Ctrl-C / SIGTERM). All addresses stay inside the namespaces.

    .venv/bin/python tools/bench_collect.py [--counts 1 10 100] [--repeat 3] [--parallel 8]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))

from dvr_collect import collect_node, subprocess_runner

IPTABLES_RULES = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:neutron-l3-agent-PREROUTING - [0:0]
:neutron-l3-agent-POSTROUTING - [0:0]
:neutron-l3-agent-float-snat - [0:0]
:neutron-l3-agent-snat - [0:0]
-A PREROUTING -j neutron-l3-agent-PREROUTING
-A POSTROUTING -j neutron-l3-agent-POSTROUTING
-A neutron-l3-agent-PREROUTING -d 172.30.{a}.{b}/32 -i {rfp} -j DNAT --to-destination 10.{a}.{b}.5
-A neutron-l3-agent-POSTROUTING ! -o {rfp} -m conntrack ! --ctstate DNAT -j ACCEPT
-A neutron-l3-agent-float-snat -s 10.{a}.{b}.5/32 -j SNAT --to-source 172.30.{a}.{b}
-A neutron-l3-agent-snat -j neutron-l3-agent-float-snat
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:neutron-l3-agent-mark - [0:0]
-A PREROUTING -j neutron-l3-agent-mark
-A neutron-l3-agent-mark -i {qr} -j MARK --set-xmark 0x1/0xffff
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:neutron-filter-top - [0:0]
:neutron-l3-agent-local - [0:0]
-A FORWARD -j neutron-filter-top
-A neutron-filter-top -j neutron-l3-agent-local
COMMIT
"""


def sh(argv: list[str], stdin: str | None = None) -> None:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")


def build(name: str, index: int) -> None:
    """A qrouter-like namespace: qr-, rfp/fpr, addresses, routes, rules, neighbours, iptables."""
    a, b = divmod(index, 100)  # 169.254.a.(2b+1) stays <= 201
    a, b = a + 1, b + 1
    rid = uuid.uuid4().hex[:10]
    qr, rfp, fpr = "qr-" + rid[:11], "rfp-" + rid, "fpr-" + rid
    ip = ["ip", "-n", name]
    sh(["ip", "netns", "add", name])
    sh([*ip, "link", "set", "lo", "up"])
    sh([*ip, "link", "add", qr, "type", "veth", "peer", "name", "p" + qr[1:]])
    sh([*ip, "link", "add", rfp, "type", "veth", "peer", "name", fpr])
    for dev in (qr, "p" + qr[1:], rfp, fpr):
        sh([*ip, "link", "set", dev, "up"])
    sh([*ip, "addr", "add", f"10.{a}.{b}.1/24", "dev", qr])
    sh([*ip, "addr", "add", f"169.254.{a}.{2 * b}/31", "dev", rfp])
    sh([*ip, "addr", "add", f"169.254.{a}.{2 * b + 1}/31", "dev", fpr])
    gateway = f"169.254.{a}.{2 * b + 1}"
    sh([*ip, "route", "add", "default", "via", gateway, "dev", rfp, "table", "16"])
    rule = ["rule", "add", "from", f"10.{a}.{b}.5", "lookup", "16"]
    sh([*ip, *rule, "priority", str(32768 + index)])
    for host in (5, 6, 7):
        mac = f"fa:16:3e:{a:02x}:{b:02x}:{host:02x}"
        sh(
            [
                *ip,
                "neigh",
                "add",
                f"10.{a}.{b}.{host}",
                "lladdr",
                mac,
                "dev",
                qr,
                "nud",
                "permanent",
            ]
        )
    rules = IPTABLES_RULES.format(a=a, b=b, rfp=rfp, qr=qr)
    sh(["ip", "netns", "exec", name, "iptables-restore"], stdin=rules)


def delete(names: list[str]) -> None:
    for name in names:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_collect: needs root", file=sys.stderr)
        return 2

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    prefix = "dvrbench-" + secrets.token_hex(4)
    created: list[str] = []
    lock = threading.Lock()
    calls = [0]

    def counting_runner(argv: list[str]) -> tuple[int, str, str]:
        with lock:
            calls[0] += 1
        return subprocess_runner(argv)

    rows = []
    try:
        for count in sorted(args.counts):
            todo = [(f"{prefix}-qrouter-{i:04d}", i) for i in range(len(created), count)]
            created.extend(name for name, _ in todo)
            t0 = time.monotonic()
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda item: build(*item), todo))
            build_s = time.monotonic() - t0
            options = {
                "namespaces": [prefix + "-*"],
                "collect_ovs": False,
                "parallel": args.parallel,
            }
            times = []
            for _ in range(args.repeat):
                calls[0] = 0
                t0 = time.monotonic()
                doc = collect_node(counting_runner, options)
                times.append(time.monotonic() - t0)
                bad = [ns["name"] for ns in doc["namespaces"] if ns["status"] != "ok"]
                if len(doc["namespaces"]) != count or bad:
                    raise RuntimeError(f"unexpected result for {count}: not ok: {bad}")
            median = statistics.median(times)
            rows.append((count, median, median / count * 1000, calls[0], build_s))
    finally:
        delete(created)

    print(f"dvr_collect, parallel={args.parallel}, median of {args.repeat} (OVS not collected)")
    print(f"{'namespaces':>10} {'median s':>9} {'ms/ns':>7} {'commands':>9} {'build s':>8}")
    for count, median, per_ns, commands, build_s in rows:
        print(f"{count:>10} {median:>9.3f} {per_ns:>7.1f} {commands:>9} {build_s:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
