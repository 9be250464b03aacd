"""`dvr-verify`: check collected node state (and probe results) against the Neutron API.

    dvr-verify snapshot --cloud dvr-lab --out runs/x/api
    dvr-verify check --api runs/x/api --nodes runs/x/nodes [--probes P.json] --out runs/x

Node files are `<neutron host>.json`, each one `dvr_collect` result (schema 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dvr_verify.checks import run_node_checks
from dvr_verify.checks.dataplane import check_dataplane
from dvr_verify.expect import (
    RESOURCES,
    ExpectationError,
    build_expectations,
    fetch_snapshot,
    load_snapshot,
)
from dvr_verify.model import CollectorSchemaError, NodeObservation, parse_node
from dvr_verify.probes import ProbeResults
from dvr_verify.report import exit_code, render_text, write_run
from dvr_verify.summary import fip_rows


class UsageError(Exception):
    """Bad input: one line naming what to fix."""


def load_nodes(directory: Path) -> dict[str, NodeObservation]:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise UsageError(f"{directory}: no <host>.json collector results (run the collect play)")
    nodes = {}
    for path in files:
        try:
            nodes[path.stem] = parse_node(json.loads(path.read_text()), host=path.stem)
        except (json.JSONDecodeError, CollectorSchemaError, KeyError) as exc:
            raise UsageError(f"{path}: not a dvr_collect result ({exc})") from exc
    return nodes


def connect(cloud: str) -> Any:
    import openstack  # deferred: only the API commands need it
    from openstack import exceptions

    try:
        conn = openstack.connect(cloud=cloud)
        conn.network.get_endpoint()
    except exceptions.ConfigException as exc:
        raise UsageError(f"cloud {cloud!r}: not in clouds.yaml ({exc})") from exc
    except exceptions.SDKException as exc:
        raise UsageError(f"cloud {cloud!r}: cannot reach the Neutron API ({exc})") from exc
    return conn


def snapshot_from(args: argparse.Namespace) -> dict[str, Any]:
    if args.api:
        return load_snapshot(args.api)
    if args.cloud:
        return fetch_snapshot(connect(args.cloud))
    raise UsageError("give --api DIR (a saved snapshot) or --cloud NAME (clouds.yaml entry)")


def cmd_snapshot(args: argparse.Namespace) -> int:
    snap = fetch_snapshot(connect(args.cloud))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in RESOURCES:
        (out / f"{name}.json").write_text(json.dumps({name: snap[name]}, indent=1))
    (out / "router-l3-agents.json").write_text(json.dumps(snap["router_l3_agents"], indent=1))
    print(f"snapshot of {args.cloud} written to {out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    exp = build_expectations(snapshot_from(args), fip_filter=args.fip or None)
    nodes = load_nodes(Path(args.nodes))
    findings = run_node_checks(exp, nodes)
    probes = None
    if args.probes:
        probes = ProbeResults.from_dict(json.loads(Path(args.probes).read_text()))
        findings += check_dataplane(exp, probes, nodes)
    rows = fip_rows(exp, nodes, findings, probes)
    print(render_text(findings, rows))
    if args.out:
        meta = {"nodes": sorted(nodes), "fips": [str(f.address) for f in exp.fips]}
        for kind, path in write_run(Path(args.out), findings, rows, meta).items():
            print(f"{kind}: {path}")
    return exit_code(findings)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="dvr-verify", description=__doc__.split("\n")[0])
    sub = top.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot", help="save the API state a check needs")
    snap.add_argument("--cloud", required=True, help="clouds.yaml entry (admin)")
    snap.add_argument("--out", required=True, help="directory for <resource>.json")
    snap.set_defaults(func=cmd_snapshot)
    check = sub.add_parser("check", help="verify collected node state against the API")
    check.add_argument("--api", help="saved snapshot directory")
    check.add_argument("--cloud", help="clouds.yaml entry (admin), instead of --api")
    check.add_argument("--nodes", required=True, help="directory of <neutron host>.json")
    check.add_argument("--probes", help="probe results JSON")
    check.add_argument("--fip", action="append", help="only this floating IP (id or address)")
    check.add_argument("--out", help="write summary.txt, report.json, junit.xml here")
    check.set_defaults(func=cmd_check)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ExpectationError, OSError) as exc:
        print(f"dvr-verify: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
