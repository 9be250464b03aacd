"""`dvr-verify`: check collected node state (and probe results) against the Neutron API.

    dvr-verify snapshot --cloud dvr-lab --out runs/x/api
    dvr-verify check --api runs/x/api --nodes runs/x/nodes [--probes P.json] --out runs/x

Node files are `<neutron host>.json`, each one `dvr_collect` result (schema 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dvr_verify import provision as prov
from dvr_verify.assemble import assemble, unreached_vms
from dvr_verify.checks import run_node_checks
from dvr_verify.checks.dataplane import check_dataplane
from dvr_verify.expect import (
    RESOURCES,
    ExpectationError,
    build_expectations,
    fetch_snapshot,
    load_snapshot,
)
from dvr_verify.findings import Finding, Status
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


# What Ansible adds to a module's (or async job's) result: not part of the collector's or a
# probe's output.
ANSIBLE_KEYS = frozenset(
    (
        "changed", "failed", "invocation", "warnings", "deprecations", "item", "ansible_job_id",
        "finished", "results_file", "started", "stdout", "stderr", "stdout_lines",
        "stderr_lines", "attempts", "ansible_loop_var", "_ansible_no_log", "skipped",
    )
)  # fmt: skip


def save_results(data: dict[str, Any], nodes_dir: Path, probe_dir: Path | None) -> None:
    """Write the module results the playbook hands over on stdin (`nodes`: Neutron host ->
    dvr_collect result, `probes`: file stem -> probe result) as the run's files."""
    for directory, section in ((nodes_dir, "nodes"), (probe_dir, "probes")):
        items = data.get(section) or {}
        if items and directory is None:
            raise UsageError(f"results for {section} but no directory to save them in")
        for name, result in items.items():
            if "/" in name or name.startswith("."):
                raise UsageError(f"{section}: bad result name {name!r}")
            kept = {k: v for k, v in result.items() if k not in ANSIBLE_KEYS}
            directory.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            (directory / f"{name}.json").write_text(json.dumps(kept))  # type: ignore[operator]


def cmd_check(args: argparse.Namespace) -> int:
    if args.results_stdin:
        try:
            data = json.load(sys.stdin)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--results-stdin: not JSON ({exc})") from exc
        save_results(data, Path(args.nodes), Path(args.probe_dir) if args.probe_dir else None)
    fips = [f for value in args.fip or () for f in value.split(",") if f]
    exp = build_expectations(snapshot_from(args), fip_filter=fips or None)
    nodes = load_nodes(Path(args.nodes))
    findings = run_node_checks(exp, nodes)
    probes = None
    resources: dict[str, Any] = {}
    if args.resources:
        resources = json.loads(Path(args.resources).read_text())
    if args.probes:
        probes = ProbeResults.from_dict(json.loads(Path(args.probes).read_text()))
    elif args.probe_dir:
        router = exp.routers.get(resources.get("router_id", ""))
        gw = router.gateway_port.ips()[0] if router and router.gateway_port else None
        try:
            probes = assemble(Path(args.probe_dir), resources, str(gw) if gw else None)
        except ValueError as exc:
            raise UsageError(f"{args.probe_dir}: {exc}") from exc
    if probes is not None:
        findings += check_dataplane(exp, probes, nodes)
    if args.probe_dir:
        findings += unreached_findings(resources, unreached_vms(Path(args.probe_dir)))
    vm_names = {vm["port_id"]: vm["name"] for vm in resources.get("vms", ())}
    vm_names.update({port["port_id"]: "(unbound port)" for port in resources.get("unbound", ())})
    rows = fip_rows(exp, nodes, findings, probes, vm_names)
    print(render_text(findings, rows))
    if args.out:
        meta = {"nodes": sorted(nodes), "fips": [str(f.address) for f in exp.fips]}
        if probes is not None:
            (Path(args.out) / "probes.json").write_text(json.dumps(probes.as_dict(), indent=1))
        for kind, path in write_run(Path(args.out), findings, rows, meta).items():
            print(f"{kind}: {path}")
    if args.phase_starts:
        seconds = phase_seconds(json.loads(args.phase_starts), time.time())
        print("phases: " + ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items()))
        if args.out:
            (Path(args.out) / "timings.json").write_text(json.dumps(seconds, indent=1))
    return exit_code(findings)


def unreached_findings(resources: dict[str, Any], names: Sequence[str]) -> list[Finding]:
    """'Not verified' for the in-VM probes of VMs SSH did not reach (named as the data-plane
    checks name them: the FIP, or the VM and its fixed IP)."""
    out = []
    for vm in resources.get("vms", ()):
        if vm["name"] not in names:
            continue
        subject = vm.get("fip") or f"{vm['name']} {vm['ip']}"
        for check in ("egress.source", "trace.path"):
            out.append(
                Finding(
                    check=check,
                    status=Status.NOT_VERIFIED,
                    subject=subject,
                    observed=f"no SSH into VM {vm['name']}: its probe did not run",
                    hint=f"ssh -F <run dir>/ssh_config {vm['name']}",
                )
            )
    return out


def phase_seconds(starts: dict[str, float], end: float) -> dict[str, float]:
    """How long each phase took: from its start to the next phase's start (the last: to `end`)."""
    marks = sorted(starts.items(), key=lambda item: item[1])
    ends = [start for _, start in marks[1:]] + [end]
    return {name: round(stop - start, 2) for (name, start), stop in zip(marks, ends, strict=True)}


def cmd_preflight(args: argparse.Namespace) -> int:
    result = prov.preflight(
        connect(args.cloud),
        args.host or [],
        args.external_network,
        backend=args.backend,
        image=args.image,
        flavor=args.flavor,
        ha=args.ha,
    )
    print(json.dumps(result))
    return 0


def _planned(spec: str) -> prov.PlannedVM:
    name, _, rest = spec.partition("=")
    host, _, flag = rest.partition(":")
    if not name or not host or flag not in ("", "nofip"):
        raise UsageError(f"--vm {spec!r}: use NAME=HOST or NAME=HOST:nofip")
    return prov.PlannedVM(name=name, host=host, with_fip=flag != "nofip")


def cmd_provision(args: argparse.Namespace) -> int:
    vms = [_planned(v) for v in args.vm]
    nova = None
    if args.backend == "nova":
        if not (args.image_id and args.flavor_id and args.public_key_file):
            raise UsageError("--backend nova needs --image-id, --flavor-id and --public-key-file")
        nova = prov.NovaSpec(
            image_id=args.image_id,
            flavor_id=args.flavor_id,
            public_key=Path(args.public_key_file).read_text().strip(),
            zone=args.zone,
        )
    conn = connect(args.cloud)
    try:
        done = prov.provision(
            conn,
            args.run_id,
            vms,
            args.external_network_id,
            args.cidr,
            nova=nova,
            ha=args.ha,
            unbound_fips=args.unbound_fips,
        )
    except Exception:
        prov.cleanup(conn, prov.run_tag(args.run_id))
        raise
    print(json.dumps(done.as_dict()))
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    data = json.loads(Path(args.resources).read_text())
    done = prov.Provisioned(
        run_id=data["run_id"],
        tag=data["tag"],
        router_id=data.get("router_id", ""),
        ha=bool(data.get("ha")),
        vms=[prov.ProvisionedVM(**vm) for vm in data["vms"]],
    )
    prov.wait_active(connect(args.cloud), done, timeout=args.timeout)
    print(f"{len(done.vms)} ports and their floating IPs are ACTIVE")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    deleted = prov.cleanup(connect(args.cloud), args.tag)
    print("\n".join(deleted) or f"nothing tagged {args.tag}")
    return 0


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
    check.add_argument("--probes", help="probe results JSON (ProbeResults)")
    check.add_argument("--probe-dir", help="probe module outputs of a run (see assemble.py)")
    check.add_argument("--resources", help="the run's provision output (names VMs in reports)")
    check.add_argument(
        "--fip", action="append", help="only these floating IPs (ids or addresses, comma-separated)"
    )
    check.add_argument("--out", help="write summary.txt, report.json, junit.xml here")
    check.add_argument(
        "--results-stdin",
        action="store_true",
        help="first save the JSON on stdin ({nodes: {host: result}, probes: {name: result}})",
    )
    check.add_argument(
        "--phase-starts", help="JSON {phase: epoch seconds}: print and save how long each took"
    )
    check.set_defaults(func=cmd_check)
    pre = sub.add_parser("preflight", help="can this cloud run a DVR verification?")
    pre.add_argument("--cloud", required=True)
    pre.add_argument("--host", action="append", help="Neutron host the run will use")
    pre.add_argument("--external-network", help="name or id (default: the only external one)")
    pre.add_argument("--backend", default="lab", choices=("auto", *prov.BACKENDS))
    pre.add_argument("--image", default="", help="nova: image name or id (default: cirros*)")
    pre.add_argument("--flavor", default="", help="nova: flavor name or id (default: smallest)")
    pre.add_argument("--ha", action="store_true", help="the run's router will be DVR+HA")
    pre.set_defaults(func=cmd_preflight)
    make = sub.add_parser("provision", help="create a run's router, network, ports, FIPs")
    make.add_argument("--cloud", required=True)
    make.add_argument("--run-id", required=True)
    make.add_argument("--external-network-id", required=True)
    make.add_argument("--vm", action="append", required=True, help="NAME=HOST[:nofip]")
    make.add_argument("--cidr", default=prov.DEFAULT_CIDR)
    make.add_argument("--backend", default="lab", choices=prov.BACKENDS)
    make.add_argument("--image-id", help="nova: image id (from preflight)")
    make.add_argument("--flavor-id", help="nova: flavor id (from preflight)")
    make.add_argument("--public-key-file", help="nova: the run's SSH public key")
    make.add_argument("--zone", default="nova", help="nova: availability zone (ZONE:HOST)")
    make.add_argument("--ha", action="store_true", help="router distributed and HA")
    make.add_argument(
        "--unbound-fips", type=int, default=0, help="FIPs on unbound ports (centralized)"
    )
    make.set_defaults(func=cmd_provision)
    wait = sub.add_parser("wait", help="wait until a run's ports and FIPs are ACTIVE")
    wait.add_argument("--cloud", required=True)
    wait.add_argument("--resources", required=True)
    wait.add_argument("--timeout", type=float, default=90.0)
    wait.set_defaults(func=cmd_wait)
    clean = sub.add_parser("cleanup", help="delete resources by tag")
    clean.add_argument("--cloud", required=True)
    clean.add_argument("--tag", default=prov.TAG, help="a run's tag, or all runs' (default)")
    clean.set_defaults(func=cmd_cleanup)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ExpectationError, prov.PreflightError, OSError) as exc:
        print(f"dvr-verify: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # an API error: one line, not a traceback
        if not type(exc).__module__.startswith(("openstack", "keystoneauth1")):
            raise
        print(f"dvr-verify: {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
