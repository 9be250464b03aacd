"""`dvr-verify`: check collected node state (and probe results) against the Neutron API.

    dvr-verify snapshot --cloud dvr-lab --out runs/x/api
    dvr-verify check --api runs/x/api --nodes runs/x/nodes [--probes P.json] --out runs/x
    dvr-verify check --run-dir runs/x      (a run directory: its api/, nodes/, probes/, resources)

The steps of a verification run (preflight, sweep, provision, wait, probe-plan, save, cleanup)
take `--run-dir` and read the run's settings from its run.json (rundir.py).

    dvr-verify sweep --run-dir runs/x                     abandoned runs only (runs.py), never x
    dvr-verify cleanup --cloud dvr-lab --abandoned [--older-than S]      the same, outside a run
    dvr-verify cleanup --cloud dvr-lab                    everything tagged dvr-verify

Node files are `<neutron host>.json`, each one `dvr_collect` result (schema 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dvr_verify import provision as prov
from dvr_verify import run, runs
from dvr_verify.backends import BACKENDS
from dvr_verify.expect import RESOURCES, ExpectationError, fetch_snapshot, load_snapshot
from dvr_verify.options import OptionError, check_options
from dvr_verify.probe_host import probe_host_error
from dvr_verify.probes import ProbeResults
from dvr_verify.report import render_text, write_run
from dvr_verify.run import API, NODES, PROBES, load_nodes, unreached_findings
from dvr_verify.run import RESOURCES as RESOURCES_FILE
from dvr_verify.rundir import (
    PREFLIGHT,
    RunSettings,
    SettingsError,
    load_preflight,
    load_settings,
    probe_plan,
)
from dvr_verify.summary import RunVerdict, run_verdict

__all__ = ["load_nodes", "main", "phase_seconds", "unreached_findings"]


class UsageError(Exception):
    """Bad input: one line naming what to fix."""


def clouds_yaml_searched() -> list[str]:
    """The files openstack.config looks for clouds.yaml in, in its order (OS_CLIENT_CONFIG_FILE
    first); it reads the first that exists."""
    from openstack.config import loader

    override = os.environ.get("OS_CLIENT_CONFIG_FILE")
    return [*([override] if override else []), *loader.CONFIG_FILES]


def _cloud_names(path: str) -> str:
    """The clouds a clouds.yaml defines, comma-separated ('?' when it does not parse)."""
    import yaml

    try:
        clouds = (yaml.safe_load(Path(path).read_text()) or {}).get("clouds") or {}
        return ", ".join(clouds) or "none"
    except (OSError, yaml.YAMLError, AttributeError):
        return "?"


def _missing_cloud(cloud: str) -> UsageError:
    """A cloud not in clouds.yaml: the file read (and its clouds), and every file searched."""
    searched = clouds_yaml_searched()
    found = next((path for path in searched if os.path.exists(path)), None)
    if found is None:
        return UsageError(f"cloud {cloud!r}: no clouds.yaml found; searched {', '.join(searched)}")
    return UsageError(
        f"cloud {cloud!r}: not in {found} (clouds: {_cloud_names(found)}), the first that exists"
        f" of {', '.join(searched)}"
    )


def connect(cloud: str) -> Any:
    """An authenticated connection to `cloud`, or a UsageError naming the cloud and the cause."""
    import openstack  # deferred: only the API commands need it
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions

    try:
        conn = openstack.connect(cloud=cloud)
        conn.network.get_endpoint()
    except exceptions.ConfigException as exc:
        if "was not found" in str(exc):
            raise _missing_cloud(cloud) from exc
        raise UsageError(f"cloud {cloud!r}: bad clouds.yaml entry ({exc})") from exc
    except ksa.Unauthorized as exc:
        raise UsageError(f"cloud {cloud!r}: authentication failed: {exc}") from exc
    except (exceptions.SDKException, ksa.ClientException) as exc:
        raise UsageError(f"cloud {cloud!r}: cannot reach the Neutron API ({exc})") from exc
    return conn


def snapshot_from(args: argparse.Namespace) -> dict[str, Any]:
    if args.api:
        return load_snapshot(args.api)
    if args.cloud:
        return fetch_snapshot(connect(args.cloud))
    raise UsageError("give --api DIR (a saved snapshot) or --cloud NAME (clouds.yaml entry)")


def _run_dir(args: argparse.Namespace) -> Path:
    return Path(args.run_dir)


def _settings(args: argparse.Namespace) -> RunSettings:
    return load_settings(_run_dir(args))


def _heartbeat(conn: Any, run_dir: Path) -> None:
    """Refresh the heartbeat of the run in `run_dir`, if it made resources (runs.py)."""
    done = run.load_resources(run_dir / RESOURCES_FILE)
    if done is not None:
        runs.touch_heartbeat(conn, done.network_id, time.time())


def cmd_snapshot(args: argparse.Namespace) -> int:
    cloud = args.cloud or _settings(args).cloud
    conn = connect(cloud)
    if args.run_dir:
        _heartbeat(conn, _run_dir(args))
    snap = fetch_snapshot(conn)
    out = Path(args.out) if args.out else _run_dir(args) / API
    out.mkdir(parents=True, exist_ok=True)
    for name in RESOURCES:
        (out / f"{name}.json").write_text(json.dumps({name: snap[name]}, indent=1))
    (out / "router-l3-agents.json").write_text(json.dumps(snap["router_l3_agents"], indent=1))
    print(f"snapshot of {cloud} written to {out}")
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


def _results_from_stdin(nodes_dir: Path, probe_dir: Path | None) -> None:
    try:
        data = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--results-stdin: not JSON ({exc})") from exc
    save_results(data, nodes_dir, probe_dir)


def cmd_save(args: argparse.Namespace) -> int:
    run_dir = _run_dir(args)
    _results_from_stdin(run_dir / NODES, run_dir / PROBES)
    print(f"results saved in {run_dir}")
    return 0


def _check_inputs(args: argparse.Namespace) -> None:
    """`--run-dir D` stands for the run's api/, nodes/, probes/, resources.json and FIPs."""
    if not args.run_dir:
        if not args.nodes:
            raise UsageError("give --run-dir DIR, or --nodes DIR with --api DIR or --cloud NAME")
        return
    run_dir = _run_dir(args)
    args.api = args.api or str(run_dir / API)
    args.nodes = str(run_dir / NODES)
    args.out = args.out or str(run_dir)
    if (run_dir / RESOURCES_FILE).exists():
        args.resources = str(run_dir / RESOURCES_FILE)
        args.probe_dir = str(run_dir / PROBES)


def _verification(args: argparse.Namespace) -> run.Verification:
    resources = run.load_resources(Path(args.resources)) if args.resources else None
    fips = [f for value in args.fip or () for f in value.split(",") if f]
    if not fips and args.run_dir and resources is not None:
        fips = run.run_fips(resources)
    probes = None
    if args.probes:
        probes = ProbeResults.from_dict(json.loads(Path(args.probes).read_text()))
    inputs = run.RunInputs(
        snapshot_from(args),
        resources,
        Path(args.probe_dir) if args.probe_dir else None,
        probes,
        fips,
    )
    return run.verify(inputs, run.load_nodes(Path(args.nodes)))


def _write_reports(out: Path, result: run.Verification, verdict: RunVerdict, strict: bool) -> None:
    """summary.txt, report.json, junit.xml (and probes.json) of a check into `out`."""
    meta = {
        "nodes": sorted(result.nodes),
        "fips": [str(f.address) for f in result.expectations.fips],
        "strict": strict,
    }
    if result.probes is not None:
        (out / "probes.json").write_text(json.dumps(result.probes.as_dict(), indent=1))
    lines, code = verdict.lines(), verdict.exit_code
    failing = verdict.unverified if verdict.strict else ()
    written = write_run(
        out, result.findings, result.rows, meta, verdict_lines=lines, code=code, failing=failing
    )
    for kind, path in written.items():
        print(f"{kind}: {path}")


def cmd_check(args: argparse.Namespace) -> int:
    _check_inputs(args)
    if args.results_stdin:
        _results_from_stdin(Path(args.nodes), Path(args.probe_dir) if args.probe_dir else None)
    result = _verification(args)
    verdict = run_verdict(result.findings, result.scope, strict=args.strict)
    print(render_text(result.findings, result.rows, verdict.lines()))
    if args.out:
        _write_reports(Path(args.out), result, verdict, args.strict)
    if args.phase_starts:
        seconds = phase_seconds(json.loads(args.phase_starts), time.time())
        print("phases: " + ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items()))
        if args.out:
            (Path(args.out) / "timings.json").write_text(json.dumps(seconds, indent=1))
    return verdict.exit_code


def phase_seconds(starts: dict[str, float], end: float) -> dict[str, float]:
    """How long each phase took: from its start to the next phase's start (the last: to `end`)."""
    marks = sorted(starts.items(), key=lambda item: item[1])
    ends = [start for _, start in marks[1:]] + [end]
    return {name: round(stop - start, 2) for (name, start), stop in zip(marks, ends, strict=True)}


def cmd_preflight(args: argparse.Namespace) -> int:
    settings = _settings(args)
    result = prov.preflight(
        connect(settings.cloud),
        [host for _, host in settings.computes],
        settings.external_network or None,
        backend=settings.backend,
        image=settings.image,
        flavor=settings.flavor,
        ha=settings.ha,
    )
    (_run_dir(args) / PREFLIGHT).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return 0


def _nova_spec(settings: RunSettings, found: dict[str, Any]) -> prov.NovaSpec:
    """Image, flavor, zone and the run's public key (run.json's `ssh_public_key`)."""
    key = Path(settings.ssh_public_key)
    if not settings.ssh_public_key or not key.is_file():
        raise UsageError(
            f"{settings.ssh_public_key or 'ssh_public_key (run.json)'}: missing"
            " (the nova backend boots VMs with the run's key pair)"
        )
    return prov.NovaSpec(
        image_id=found["image_id"],
        flavor_id=found["flavor_id"],
        public_key=key.read_text().strip(),
        zone=settings.availability_zone,
    )


def cmd_provision(args: argparse.Namespace) -> int:
    run_dir, settings = _run_dir(args), _settings(args)
    found = load_preflight(run_dir)
    nova = _nova_spec(settings, found) if found["backend"] == "nova" else None
    vms = prov.plan_vms(settings.computes, settings.vms_per_compute)
    conn = connect(settings.cloud)
    try:
        done = prov.provision(
            conn,
            settings.run_id,
            vms,
            found["external_network_id"],
            nova=nova,
            ha=settings.ha,
            unbound_fips=settings.unbound_fips,
            keep=settings.keep,
        )
    except Exception:
        prov.cleanup(conn, prov.run_tag(settings.run_id))
        raise
    resources = {**done.as_dict(), "vm_access": args.vm_access}
    (run_dir / RESOURCES_FILE).write_text(json.dumps(resources, indent=4, sort_keys=True))
    print(f"{len(done.vms)} VMs provisioned: {run_dir / RESOURCES_FILE}")
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    run_dir, settings = _run_dir(args), _settings(args)
    done = run.load_resources(run_dir / RESOURCES_FILE)
    if done is None:
        raise UsageError(f"{run_dir / RESOURCES_FILE}: missing (provision writes it)")
    timeout = max(settings.active_timeout, BACKENDS[done.backend].min_active_timeout)
    conn = connect(settings.cloud)
    runs.touch_heartbeat(conn, done.network_id, time.time())
    prov.wait_active(conn, done, timeout=timeout, sleep=runs.heartbeat_sleep(conn, done.network_id))
    print(f"{len(done.vms)} ports and their floating IPs are ACTIVE")
    return 0


def cmd_probe_plan(args: argparse.Namespace) -> int:
    run_dir = _run_dir(args)
    done = run.load_resources(run_dir / RESOURCES_FILE)
    if done is None:
        raise UsageError(f"{run_dir / RESOURCES_FILE}: missing (provision writes it)")
    print(json.dumps(probe_plan(run_dir, done, _settings(args))))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """The run-start sweep: delete the abandoned runs' resources, never this run's."""
    settings = _settings(args)
    conn = connect(settings.cloud)
    lines = runs.sweep(conn, time.time(), settings.abandon_after, spare={settings.run_id})
    print("\n".join(lines) or f"no run tagged {prov.TAG}")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    if args.abandoned:
        return _cleanup_abandoned(args)
    tag, cloud = args.tag, args.cloud
    if args.run_dir:
        done = run.load_resources(_run_dir(args) / RESOURCES_FILE)
        tag = done.tag if done else prov.run_tag(_settings(args).run_id)
        cloud = cloud or _settings(args).cloud
    if not cloud:
        raise UsageError("give --cloud NAME (clouds.yaml entry) or --run-dir DIR")
    deleted = prov.cleanup(connect(cloud), tag)
    print("\n".join(deleted) or f"nothing tagged {tag}")
    return 0


def cmd_port_ids(args: argparse.Namespace) -> int:
    """Every Neutron port id, and when the listing began: what a compute's VMs are checked
    against (a lab VM whose port is not listed is gone from the cloud)."""
    listed_at = int(time.time())
    ports = [p.id for p in connect(args.cloud).network.ports()]
    print(json.dumps({"listed_at": listed_at, "ports": sorted(ports)}))
    return 0


def _cleanup_abandoned(args: argparse.Namespace) -> int:
    """`cleanup --abandoned`: the sweep of a run's start, for a cloud (no run spared)."""
    if not args.cloud or args.run_dir or args.tag != prov.TAG:
        raise UsageError("--abandoned takes --cloud NAME (and --older-than), not a run or tag")
    if args.older_than < runs.MIN_ABANDON_AFTER:
        raise UsageError(f"--older-than: {runs.MIN_ABANDON_AFTER} seconds or more")
    lines = runs.sweep(connect(args.cloud), time.time(), args.older_than)
    print("\n".join(lines) or f"no run tagged {prov.TAG}")
    return 0


def cmd_probe_host(args: argparse.Namespace) -> int:
    """Check the probe interface (`ip -j addr show dev X` of the probe host on stdin) against the
    external subnets the preflight found."""
    found = load_preflight(_run_dir(args))
    text = sys.stdin.read().strip()
    try:
        ip_json = json.loads(text) if text and not args.ip_error else []
    except json.JSONDecodeError as exc:
        raise UsageError(f"probe-host: not `ip -j addr` output on stdin ({exc})") from exc
    problem = probe_host_error(
        args.host,
        args.interface,
        args.address,
        found.get("external_cidrs", []),
        ip_json,
        args.ip_error,
    )
    if problem:
        raise UsageError(problem)
    print(f"probe host {args.host}: {args.interface} holds {args.address} on the external network")
    return 0


def _probe_host_parser(sub: Any) -> None:
    step = sub.add_parser("probe-host", help="check the probe interface (ip -j addr on stdin)")
    step.add_argument("--run-dir", required=True, help="the run's directory (preflight.json)")
    step.add_argument("--host", required=True, help="the probe host (inventory name)")
    step.add_argument("--interface", required=True, help="dvr_verify_probe_interface")
    step.add_argument("--address", default="", help="dvr_verify_probe_address")
    step.add_argument("--ip-error", default="", help="what `ip -j addr` said, if it failed")
    step.set_defaults(func=cmd_probe_host)


def cmd_options(args: argparse.Namespace) -> int:
    """Check the role's options (JSON on stdin: name without dvr_verify_ -> value)."""
    try:
        values = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        raise UsageError(f"options: not JSON on stdin ({exc})") from exc
    check_options(values)
    print(f"{len(values)} options checked")
    return 0


def _check_parser(sub: Any) -> None:
    check = sub.add_parser("check", help="verify collected node state against the API")
    check.add_argument("--run-dir", help="a run directory: its api/, nodes/, probes/, resources")
    check.add_argument("--api", help="saved snapshot directory")
    check.add_argument("--cloud", help="clouds.yaml entry (admin), instead of --api")
    check.add_argument("--nodes", help="directory of <neutron host>.json")
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
    check.add_argument(
        "--strict",
        action="store_true",
        help="also fail (exit 1) on any 'not verified' of the run's own FIPs, VMs and router",
    )
    check.set_defaults(func=cmd_check)


# Steps of a run that read everything from its directory: (name, help, function).
RUN_STEPS = (
    ("preflight", "can this cloud run the verification? (writes preflight.json)", cmd_preflight),
    ("sweep", "delete abandoned runs' resources (not kept, no heartbeat for long)", cmd_sweep),
    ("provision", "create the run's router, network, ports, VMs, FIPs", cmd_provision),
    ("wait", "wait until the run's servers, ports and FIPs are ACTIVE", cmd_wait),
    ("probe-plan", "print what the probe phase needs of the run (JSON)", cmd_probe_plan),
    ("save", "save the module results on stdin as the run's nodes/ and probes/", cmd_save),
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="dvr-verify", description=__doc__.split("\n")[0])
    sub = top.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot", help="save the API state a check needs")
    snap.add_argument("--cloud", help="clouds.yaml entry (admin; default: the run's)")
    snap.add_argument("--out", help="directory for <resource>.json (default: <run dir>/api)")
    snap.add_argument("--run-dir")
    snap.set_defaults(func=cmd_snapshot)
    _check_parser(sub)
    for name, text, func in RUN_STEPS:
        step = sub.add_parser(name, help=text)
        step.add_argument("--run-dir", required=True, help="the run's directory (run.json)")
        step.set_defaults(func=func)
        if name == "provision":
            step.add_argument("--vm-access", default="", help="how probes reach the VMs")
    clean = sub.add_parser("cleanup", help="delete resources by tag")
    clean.add_argument("--cloud", help="clouds.yaml entry (default: the run's)")
    clean.add_argument("--tag", default=prov.TAG, help="a run's tag, or all runs' (default)")
    clean.add_argument("--run-dir", help="delete this run's resources")
    clean.add_argument(
        "--abandoned",
        action="store_true",
        help="only abandoned runs' (not kept, heartbeat older than --older-than): see runs.py",
    )
    clean.add_argument(
        "--older-than",
        type=int,
        default=runs.DEFAULT_ABANDON_AFTER,
        metavar="SECONDS",
        help=f"with --abandoned: the bound (default {runs.DEFAULT_ABANDON_AFTER})",
    )
    clean.set_defaults(func=cmd_cleanup)
    _probe_host_parser(sub)
    options = sub.add_parser("options", help="check the role's options (JSON on stdin)")
    options.set_defaults(func=cmd_options)
    ports = sub.add_parser("port-ids", help="every Neutron port id (JSON), and when listed")
    ports.add_argument("--cloud", required=True, help="clouds.yaml entry (admin)")
    ports.set_defaults(func=cmd_port_ids)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (
        UsageError,
        run.RunInputError,
        SettingsError,
        OptionError,
        ExpectationError,
        prov.PreflightError,
        OSError,
    ) as exc:
        print(f"dvr-verify: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # an API error: one line, not a traceback
        if not type(exc).__module__.startswith(("openstack", "keystoneauth1")):
            raise
        print(f"dvr-verify: {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
