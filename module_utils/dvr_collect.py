# -*- coding: utf-8 -*-
# Apache-2.0
"""Node collector for dvr-verify: read-only snapshot of a node's Neutron DVR plumbing.

Standard library only; runs on Python 3.8+ nodes. The command runner is injected, so the same
code runs inside Ansible (``module.run_command``) and from tests or benchmarks (``subprocess``).
The returned document is schema 1 of docs/design.md ("Collector output").
"""

from __future__ import annotations

import configparser
import copy
import fnmatch
import json
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

try:
    from ansible.module_utils.dvr_iptables import has_neutron_chains, parse_iptables_save
    from ansible.module_utils.dvr_ovs_flows import parse_dump_flows
except ImportError:  # imported directly (tests, tools): module_utils/ is on sys.path
    from dvr_iptables import has_neutron_chains, parse_iptables_save  # type: ignore
    from dvr_ovs_flows import parse_dump_flows  # type: ignore

SCHEMA = 1

Runner = Callable[[List[str]], Tuple[int, str, str]]

# The dvr_collect module's options and defaults, once: its argument_spec, from which
# DEFAULT_OPTIONS follows (its DOCUMENTATION is checked against it: tests/unit/test_module_docs.py).
ARGUMENT_SPEC = {
    "namespaces": {"type": "list", "elements": "str", "default": ["*"]},
    "command_prefix": {"type": "list", "elements": "str", "default": []},
    "ovs_command_prefix": {"type": "list", "elements": "str"},  # None: same as command_prefix
    "state_path": {"type": "str"},  # None: the L3 agent's configuration says (L3_AGENT_CONFIG)
    "collect_ovs": {"type": "bool", "default": True},
    "collect_iptables": {"type": "bool", "default": True},
    "parallel": {"type": "int", "default": 8},
}

# collect_node options that are no module options: the binaries (the module passes the paths it
# finds) and the ovs-vsctl timeout.
INTERNAL_OPTIONS = {
    "ip_path": "ip",
    "ovs_vsctl_path": "ovs-vsctl",
    "ovs_ofctl_path": "ovs-ofctl",
    "ovs_timeout": 30,
}

DEFAULT_OPTIONS = dict(
    ((key, copy.deepcopy(spec.get("default"))) for key, spec in ARGUMENT_SPEC.items()),
    **INTERNAL_OPTIONS,
)

IPTABLES_TABLES = ("nat", "raw", "mangle", "filter")

# Where the L3 agent reads [DEFAULT] state_path, in the order it loads them (the last one that sets
# it wins): `neutron-l3-agent --config-file neutron.conf --config-file l3_agent.ini` (DevStack,
# distribution packages, kolla inside its container); neutron's own default otherwise.
L3_AGENT_CONFIG = ("/etc/neutron/neutron.conf", "/etc/neutron/l3_agent.ini")
NEUTRON_STATE_PATH = "/var/lib/neutron"

OPENFLOW_VERSIONS = (
    "OpenFlow10",
    "OpenFlow11",
    "OpenFlow12",
    "OpenFlow13",
    "OpenFlow14",
    "OpenFlow15",
)

# Sysctls read per namespace (the keys of the lab's sysctl.txt captures). Paths under /proc/sys.
SYSCTL_FIXED = (
    "net/ipv4/ip_forward",
    "net/ipv4/ip_nonlocal_bind",
    "net/ipv6/conf/all/forwarding",
    "net/netfilter/nf_conntrack_tcp_be_liberal",
    "net/netfilter/nf_conntrack_tcp_loose",
)
SYSCTL_CONF_KEYS = (
    "arp_announce",
    "arp_filter",
    "arp_ignore",
    "bc_forwarding",
    "forwarding",
    "mc_forwarding",
    "proxy_arp",
    "rp_filter",
    "send_redirects",
)
SYSCTL_GLOBS = (
    *tuple("net/ipv4/conf/*/" + k for k in SYSCTL_CONF_KEYS),
    "net/ipv4/neigh/*/proxy_delay",
)

# One shell per namespace. grep, not the shell's read: /proc/sys answers dash's 1-byte reads
# with the first digit only. -s: keys this kernel lacks (bc_forwarding < 5.3) are simply absent.
SYSCTL_SCRIPT = (
    "cd /proc/sys || exit 1; grep -H -s '' " + " ".join(SYSCTL_FIXED + SYSCTL_GLOBS) + "; exit 0"
)

IPTABLES_DETECT_SCRIPT = (
    "PATH=$PATH:/usr/sbin:/sbin:/usr/local/sbin; "
    "for b in iptables-nft-save iptables-legacy-save iptables-save; do command -v $b; done; true"
)

NO_JSON_MSG = (
    "{host}: iproute2 has no JSON output (ip -j); dvr_collect needs iproute2 >= 4.13 "
    "(Ubuntu 18.04+, RHEL 8+)"
)


class DvrCollectError(Exception):
    """The node cannot be collected at all (reported as one clear message)."""


class IprouteNoJsonError(DvrCollectError):
    """The node's iproute2 does not support JSON output (``ip -j``)."""


class _Vanished(Exception):
    """The namespace disappeared while it was being collected."""


def subprocess_runner(argv: Sequence[str], timeout: float = 120) -> Tuple[int, str, str]:
    """Run argv without a shell; return (rc, stdout, stderr). A missing binary gives rc 127."""
    try:
        proc = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        return 127, "", str(exc)
    except subprocess.TimeoutExpired:
        return 124, "", "timed out after %ss" % timeout
    return (
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def _error(what: str, argv: Optional[Sequence[str]], rc: Optional[int], stderr: str) -> dict:
    return {
        "what": what,
        "command": " ".join(argv) if argv else "",
        "rc": rc,
        "stderr": (stderr or "").strip()[-2000:],
    }


def _is_vanished(stderr: str) -> bool:
    """True when iproute2 says the namespace (file) is gone."""
    s = stderr or ""
    if "Cannot open network namespace" in s:
        return True
    return "network namespace" in s and "No such file or directory" in s


def normalise_options(options: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Defaults filled in; unknown keys rejected; None values mean 'default'."""
    opts = dict(DEFAULT_OPTIONS)
    for key, value in (options or {}).items():
        if key not in DEFAULT_OPTIONS:
            raise ValueError("dvr_collect: unknown option %r" % key)
        if value is not None:
            opts[key] = value
    opts["namespaces"] = list(opts["namespaces"]) or ["*"]
    opts["command_prefix"] = list(opts["command_prefix"])
    if opts["ovs_command_prefix"] is None:
        opts["ovs_command_prefix"] = list(opts["command_prefix"])
    opts["ovs_command_prefix"] = list(opts["ovs_command_prefix"])
    opts["parallel"] = max(1, int(opts["parallel"]))
    return opts


# Without these a namespace cannot be judged; other failures are listed and judged 'not verified'.
CORE_PARTS = ("links", "addresses", "routes ipv4", "rules ipv4", "neighbours")


def empty_iptables_tables() -> Dict[str, dict]:
    """The four tables, each without chains."""
    return {t: {"chains": {}} for t in IPTABLES_TABLES}


def empty_namespace(name: str) -> Dict[str, Any]:
    """A namespace record with every documented key present and empty."""
    return {
        "name": name,
        "status": "ok",
        "links": [],
        "addresses": [],
        "routes": {"4": [], "6": []},
        "rules": {"4": [], "6": []},
        "neighbours": [],
        "neighbours_proxy": [],
        "sysctls": {},
        "iptables": {
            "collected": False,
            "backend": None,
            "neutron_chains_in": [],
            "tables": empty_iptables_tables(),
        },
        "errors": [],
    }


def empty_ovs() -> Dict[str, Any]:
    """The ovs section with every documented key present and empty."""
    return {
        "collected": False,
        "available": False,
        "bridges": [],
        "ports": [],
        "interfaces": [],
        "errors": [],
    }


def _load_json_list(text: str) -> list:
    """Parse ``ip -j`` output; empty output (e.g. ``ip -j netns list`` with none) is []."""
    if not text.strip():
        return []
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("expected a JSON list")
    return data


def check_ip_json(run: Runner, ip: List[str], host: str) -> None:
    """Raise IprouteNoJsonError unless ``ip -j link show lo`` prints a JSON list."""
    argv = [*ip, "-j", "link", "show", "lo"]
    rc, out, err = run(argv)
    if rc == 127:
        raise DvrCollectError("%s: cannot run %s: %s" % (host, ip[-1], err.strip()))
    try:
        ok = rc == 0 and bool(_load_json_list(out))
    except ValueError:
        ok = False
    if not ok:
        raise IprouteNoJsonError(NO_JSON_MSG.format(host=host))


def _iptables_backend_of(binary: str, version_text: str) -> str:
    """Backend name of an iptables-save binary ('nft' or 'legacy')."""
    base = binary.rsplit("/", 1)[-1]
    if base.startswith("iptables-nft"):
        return "nft"
    if base.startswith("iptables-legacy"):
        return "legacy"
    return "nft" if "nf_tables" in version_text else "legacy"


def detect_iptables(run: Runner, prefix: List[str]) -> Tuple[List[Tuple[str, str]], List[dict]]:
    """([(backend, binary)], errors): the nft and legacy savers if present, else iptables-save."""
    argv = [*prefix, "sh", "-c", IPTABLES_DETECT_SCRIPT]
    rc, out, err = run(argv)
    found = {}
    for line in out.splitlines():
        path = line.strip()
        if path:
            found.setdefault(path.rsplit("/", 1)[-1], path)
    if "iptables-nft-save" in found or "iptables-legacy-save" in found:
        savers = []
        for base, backend in (("iptables-nft-save", "nft"), ("iptables-legacy-save", "legacy")):
            if base in found:
                savers.append((backend, found[base]))
        return savers, []
    if "iptables-save" in found:
        path = found["iptables-save"]
        _rc, vout, verr = run([*prefix, path, "--version"])
        return [(_iptables_backend_of(path, vout + verr), path)], []
    return [], [_error("iptables: no iptables-save binary found", argv, rc, err)]


def _count_rules(tables: Dict[str, dict]) -> int:
    return sum(
        len(c.get("rules", [])) for t in tables.values() for c in t.get("chains", {}).values()
    )


def _count_chains(tables: Dict[str, dict]) -> int:
    return sum(len(t.get("chains", {})) for t in tables.values())


class _NamespaceCollector:
    """Collects one namespace; commands run sequentially, namespaces run in parallel."""

    def __init__(
        self, run: Runner, ip: List[str], name: str, savers: List[Tuple[str, str]], opts: dict
    ) -> None:
        self.run = run
        self.ip = ip
        self.name = name
        self.savers = savers
        self.opts = opts
        self.rec = empty_namespace(name)

    def _cmd(self, what: str, argv: List[str]) -> Optional[str]:
        rc, out, err = self.run(argv)
        if rc != 0:
            if _is_vanished(err):
                raise _Vanished()
            self.rec["errors"].append(_error(what, argv, rc, err))
            return None
        return out

    def _ip_json(self, what: str, args: List[str]) -> list:
        argv = [*self.ip, "-n", self.name, *args]
        out = self._cmd(what, argv)
        if out is None:
            return []
        try:
            return _load_json_list(out)
        except ValueError as exc:
            self.rec["errors"].append(
                _error(what, argv, 0, "output is not JSON (%s): %s" % (exc, out[:200]))
            )
            return []

    def _exec(self, what: str, argv: List[str]) -> Optional[str]:
        return self._cmd(what, [*self.ip, "netns", "exec", self.name, *argv])

    def collect(self) -> Dict[str, Any]:
        rec = self.rec
        try:
            rec["links"] = self._ip_json("links", ["-j", "-d", "link", "show"])
            rec["addresses"] = self._ip_json("addresses", ["-j", "addr", "show"])
            for fam in ("4", "6"):
                rec["routes"][fam] = self._ip_json(
                    "routes ipv" + fam, ["-" + fam, "-j", "route", "show", "table", "all"]
                )
                rec["rules"][fam] = self._ip_json(
                    "rules ipv" + fam, ["-" + fam, "-j", "rule", "show"]
                )
            rec["neighbours"] = self._ip_json("neighbours", ["-j", "neigh", "show"])
            rec["neighbours_proxy"] = self._ip_json(
                "proxy neighbours", ["-j", "neigh", "show", "proxy"]
            )
            self._sysctls()
            if self.opts["collect_iptables"]:
                self._iptables()
        except _Vanished:
            rec["status"] = "vanished"
            return rec
        core = [e for e in rec["errors"] if e.get("what") in CORE_PARTS]
        if core:
            rec["status"] = "error"  # the namespace's shape is unknown: nothing can be checked
        return rec

    def _sysctls(self) -> None:
        argv = [*self.ip, "netns", "exec", self.name, "sh", "-c", SYSCTL_SCRIPT]
        out = self._cmd("sysctls", argv)
        if out is None:
            return
        sysctls = self.rec["sysctls"]
        for line in out.splitlines():
            path, sep, value = line.partition(":")  # device names cannot contain ':'
            parts = path.split("/")
            if not sep or len(parts) < 3 or (len(parts) == 5 and parts[3] == "default"):
                continue
            # a device component may itself contain dots (eth0.100); it is kept as is
            sysctls[".".join(parts)] = value.strip()
        missing = [p.replace("/", ".") for p in SYSCTL_FIXED if p.replace("/", ".") not in sysctls]
        if missing:
            self.rec["errors"].append(
                _error("sysctls not readable", argv, 0, "not readable: " + " ".join(missing))
            )

    def _iptables(self) -> None:
        ipt = self.rec["iptables"]
        candidates = []  # (score, index, backend, tables)
        failures = []
        for index, (backend, binary) in enumerate(self.savers):
            argv = [*self.ip, "netns", "exec", self.name, binary]
            rc, out, err = self.run(argv)
            if rc != 0:
                if _is_vanished(err):
                    raise _Vanished()
                failures.append(_error("iptables " + backend, argv, rc, err))
                continue
            parse_errors = []  # type: List[dict]
            try:
                parsed = parse_iptables_save(out, parse_errors)
            except Exception as exc:  # a parser bug must not lose the namespace
                failures.append(
                    _error("iptables %s parse: %r" % (backend, exc), argv, 0, out[:200])
                )
                continue
            for pe in parse_errors:
                self.rec["errors"].append(
                    _error(
                        "iptables %s line %s unparsed: %s"
                        % (backend, pe.get("line"), pe.get("error")),
                        argv,
                        0,
                        pe.get("text", ""),
                    )
                )
            tables = empty_iptables_tables()
            for table in IPTABLES_TABLES:
                if table in parsed:
                    tables[table] = parsed[table]
            neutron = bool(has_neutron_chains(tables))
            if neutron:
                ipt["neutron_chains_in"].append(backend)
            score = (neutron, _count_rules(tables), _count_chains(tables))
            candidates.append((score, -index, backend, tables))
        ipt["collected"] = bool(candidates)  # at least one backend answered
        if candidates:
            best = max(candidates, key=lambda c: (c[0], c[1]))
            if best[0] > (False, 0, 0):
                ipt["backend"] = best[2]
                ipt["tables"] = best[3]
        if failures and not ipt["neutron_chains_in"]:
            self.rec["errors"].extend(failures)


EMPTY_SET = ["set", []]  # an unset optional column (older schemas may lack a column)
EMPTY_MAP = ["map", []]


def _ovsdb_value(value: Any) -> Any:
    """Convert OVSDB JSON ("set"/"map"/"uuid" wrappers) to plain Python values."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, inner = value
        if kind == "set":
            return [_ovsdb_value(v) for v in inner]
        if kind == "map":
            return {str(k): _ovsdb_value(v) for k, v in inner}
        if kind in ("uuid", "named-uuid"):
            return inner
    return value


def _ovsdb_scalar(value: Any) -> Any:
    """An optional column (empty set = unset) as scalar or None."""
    value = _ovsdb_value(value)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _ovsdb_list(value: Any) -> list:
    value = _ovsdb_value(value)
    return value if isinstance(value, list) else [value]


def _ovsdb_rows(text: str) -> List[Dict[str, Any]]:
    data = json.loads(text)
    headings = data["headings"]
    return [dict(zip(headings, row)) for row in data["data"]]  # noqa: B905 (py3.8)


def flow_protocol(protocols: Sequence[str]) -> str:
    """Highest OpenFlow version a bridge allows; OpenFlow10 when the column is empty."""
    known = [p for p in protocols if p in OPENFLOW_VERSIONS]
    if not known:
        return "OpenFlow10"
    return max(known, key=OPENFLOW_VERSIONS.index)


OVSDB_COLUMNS = {
    "Bridge": "_uuid,name,datapath_type,protocols,ports,external_ids,other_config",
    "Port": "_uuid,name,tag,trunks,interfaces,external_ids,other_config",
    "Interface": "_uuid,name,type,external_ids,ofport,mac_in_use,options,error",
}


def _vsctl_list(run: Runner, argv: List[str], table: str, errors: List[dict]) -> Optional[list]:
    """The rows ``ovs-vsctl list <table>`` prints; None, with an error in `errors`, on failure."""
    rc, out, err = run(argv)
    if rc != 0:
        errors.append(_error("ovs-vsctl list " + table, argv, rc, err))
        return None
    try:
        return _ovsdb_rows(out)
    except (ValueError, KeyError, TypeError) as exc:
        what = "ovs-vsctl list %s: bad JSON (%s)" % (table, exc)
        errors.append(_error(what, argv, 0, out[:200]))
        return None


def _ovsdb_tables(run: Runner, opts: Dict[str, Any], errors: List[dict]) -> Optional[dict]:
    """{table: rows} of OVSDB_COLUMNS; None when the Bridge table cannot be read (then the
    others are not asked for); an unreadable Port or Interface table has no rows."""
    vsctl = [
        *opts["ovs_command_prefix"],
        opts["ovs_vsctl_path"],
        "--timeout=%d" % int(opts["ovs_timeout"]),
        "--format=json",
    ]
    rows = {}
    for table, cols in OVSDB_COLUMNS.items():
        found = _vsctl_list(run, [*vsctl, "--columns=" + cols, "list", table], table, errors)
        if found is None and table == "Bridge":
            return None
        rows[table] = found or []
    return rows


def _ovs_interface(r: Dict[str, Any]) -> Dict[str, Any]:
    """An interface of the ovs section."""
    return {
        "name": r["name"],
        "type": r.get("type", ""),
        "external_ids": _ovsdb_value(r.get("external_ids", EMPTY_MAP)),
        "ofport": _ovsdb_scalar(r.get("ofport", EMPTY_SET)),
        "mac_in_use": _ovsdb_scalar(r.get("mac_in_use", EMPTY_SET)),
        "options": _ovsdb_value(r.get("options", EMPTY_MAP)),
        "error": _ovsdb_scalar(r.get("error", EMPTY_SET)),
    }


def _ovs_port(r: Dict[str, Any], bridge: Optional[str], iface_names: dict) -> Dict[str, Any]:
    """A port of the ovs section (`bridge` holds it; `iface_names` maps interface UUIDs)."""
    return {
        "name": r["name"],
        "bridge": bridge,
        "tag": _ovsdb_scalar(r.get("tag", EMPTY_SET)),
        "trunks": _ovsdb_list(r.get("trunks", EMPTY_SET)),
        "interfaces": sorted(
            iface_names.get(u, u) for u in _ovsdb_list(r.get("interfaces", EMPTY_SET))
        ),
        "external_ids": _ovsdb_value(r.get("external_ids", EMPTY_MAP)),
        "other_config": _ovsdb_value(r.get("other_config", EMPTY_MAP)),
    }


def _ovs_bridge(r: Dict[str, Any], port_names: dict) -> Dict[str, Any]:
    """A bridge without its flows."""
    protocols = _ovsdb_list(r.get("protocols", EMPTY_SET))
    return {
        "name": r["name"],
        "datapath_type": r.get("datapath_type", ""),
        "protocols": protocols,
        "flow_protocol": flow_protocol(protocols),
        "ports": sorted(port_names.get(u, u) for u in _ovsdb_list(r.get("ports", EMPTY_SET))),
        "external_ids": _ovsdb_value(r.get("external_ids", EMPTY_MAP)),
        "other_config": _ovsdb_value(r.get("other_config", EMPTY_MAP)),
    }


def collect_ovs(run: Runner, opts: Dict[str, Any]) -> Dict[str, Any]:
    """Bridges (with parsed flows), ports and interfaces from the local Open vSwitch."""
    ovs = empty_ovs()
    ovs["collected"] = True
    rows = _ovsdb_tables(run, opts, ovs["errors"])
    if rows is None:
        return ovs
    ovs["available"] = True

    iface_names = {_ovsdb_scalar(r.get("_uuid")): r["name"] for r in rows["Interface"]}
    port_names = {_ovsdb_scalar(r.get("_uuid")): r["name"] for r in rows["Port"]}
    port_bridge = {}
    for r in rows["Bridge"]:
        for uuid in _ovsdb_list(r.get("ports", EMPTY_SET)):
            port_bridge[uuid] = r["name"]

    for r in sorted(rows["Interface"], key=lambda r: r["name"]):
        ovs["interfaces"].append(_ovs_interface(r))
    for r in sorted(rows["Port"], key=lambda r: r["name"]):
        bridge = port_bridge.get(_ovsdb_scalar(r.get("_uuid")))
        ovs["ports"].append(_ovs_port(r, bridge, iface_names))
    for r in sorted(rows["Bridge"], key=lambda r: r["name"]):
        bridge = _ovs_bridge(r, port_names)
        proto = bridge["flow_protocol"]
        bridge["flows"] = _dump_flows(run, opts, bridge["name"], proto, ovs["errors"])
        ovs["bridges"].append(bridge)
    return ovs


def _dump_flows(run: Runner, opts: dict, bridge: str, proto: str, errors: List[dict]) -> list:
    base = opts["ovs_command_prefix"] + [opts["ovs_ofctl_path"], "-O", proto, "dump-flows"]
    argv = [*base, "--no-stats", bridge]
    rc, out, err = run(argv)
    if rc != 0 and "no-stats" in err:  # Open vSwitch older than 2.8: the parser drops statistics
        argv = [*base, bridge]
        rc, out, err = run(argv)
    if rc != 0:
        errors.append(_error("ovs-ofctl dump-flows " + bridge, argv, rc, err))
        return []
    parse_errors = []  # type: List[dict]
    try:
        flows = parse_dump_flows(out, parse_errors)
    except Exception as exc:  # a parser bug must not lose the node
        errors.append(_error("ovs-ofctl dump-flows %s parse: %r" % (bridge, exc), argv, 0, ""))
        return []
    for pe in parse_errors:
        what = "flow of %s line %s unparsed: %s" % (bridge, pe.get("line"), pe.get("error"))
        errors.append(_error(what, argv, 0, pe.get("text", "")))
    return flows


def _state_file(
    run: Runner, prefix: List[str], path: str, fields: Tuple[str, str], errors: List[dict]
) -> Dict[str, Any]:
    """Read an L3 agent ``<a>,<b>`` state file through the runner (so it works in containers)."""
    argv = [*prefix, "cat", path]
    rc, out, err = run(argv)
    if rc != 0:
        if "No such file" in err:
            return {"status": "missing", "entries": []}
        errors.append(_error("l3 agent state " + path, argv, rc, err))
        return {"status": "error", "entries": []}
    entries = []
    for number, line in enumerate(out.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        first, sep, second = line.partition(",")
        if not sep:
            errors.append(_error("%s line %d malformed: %r" % (path, number, line), argv, 0, ""))
            continue
        value: Any = second.strip()
        if fields[1] == "priority":
            try:
                value = int(value)
            except ValueError:
                errors.append(
                    _error("%s line %d malformed: %r" % (path, number, line), argv, 0, "")
                )
                continue
        entries.append({fields[0]: first.strip(), fields[1]: value})
    return {"status": "ok", "entries": entries}


def _config_state_path(
    run: Runner, prefix: List[str], path: str, errors: List[dict]
) -> Optional[str]:
    """[DEFAULT] state_path of one oslo.config file, None when it is absent or does not set it."""
    argv = [*prefix, "cat", path]
    rc, out, err = run(argv)
    if rc != 0:
        if "No such file" not in err:
            errors.append(_error("l3 agent config " + path, argv, rc, err))
        return None
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(out, source=path)
    except configparser.Error as exc:
        errors.append(_error("l3 agent config %s: %s" % (path, exc), argv, 0, ""))
        return None
    value = (parser.defaults().get("state_path") or "").strip()
    if value and not value.startswith("/"):  # $substitution or relative: not a path to read
        what = "l3 agent config %s: state_path %r is no absolute path" % (path, value)
        errors.append(_error(what, argv, 0, ""))
        return None
    return value or None


def state_path_of(run: Runner, opts: Dict[str, Any], errors: List[dict]) -> Tuple[str, str]:
    """(state_path, where it came from): the option, else the L3 agent's configuration files,
    else neutron's default."""
    if opts["state_path"]:
        return opts["state_path"], "option"
    found = (NEUTRON_STATE_PATH, "default")
    for path in L3_AGENT_CONFIG:
        value = _config_state_path(run, opts["command_prefix"], path, errors)
        if value:
            found = (value, path)
    return found


def collect_l3_agent_state(run: Runner, opts: Dict[str, Any], errors: List[dict]) -> Dict[str, Any]:
    """The L3 agent's fip-linklocal-networks and fip-priorities files, and where its state_path
    came from."""
    state_path, source = state_path_of(run, opts, errors)
    state_path = state_path.rstrip("/") or "/"
    prefix = opts["command_prefix"]
    return {
        "state_path": state_path,
        "state_path_source": source,
        "fip_linklocal_networks": _state_file(
            run, prefix, state_path + "/fip-linklocal-networks", ("router_id", "cidr"), errors
        ),
        "fip_priorities": _state_file(
            run, prefix, state_path + "/fip-priorities", ("fip", "priority"), errors
        ),
    }


def list_namespaces(run: Runner, ip: List[str], errors: List[dict]) -> List[str]:
    """Names from ``ip -j netns list``."""
    argv = [*ip, "-j", "netns", "list"]
    rc, out, err = run(argv)
    if rc != 0:
        errors.append(_error("netns list", argv, rc, err))
        return []
    try:
        return [str(entry["name"]) for entry in _load_json_list(out)]
    except (ValueError, KeyError, TypeError) as exc:
        errors.append(_error("netns list: bad JSON (%s)" % exc, argv, 0, out[:200]))
        return []


def select_namespaces(names: Sequence[str], patterns: Sequence[str]) -> List[str]:
    """Sorted names matching any fnmatch pattern."""
    return sorted(n for n in set(names) if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def _guarded(fn: Callable[[], Dict[str, Any]], name: str) -> Dict[str, Any]:
    try:
        return fn()
    except Exception as exc:  # never lose the node for one namespace
        rec = empty_namespace(name)
        rec["status"] = "error"
        rec["errors"].append(_error("internal error: %r" % exc, None, None, ""))
        return rec


def collect_node(run: Runner, options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Collect this node's DVR state; return the schema-1 document of docs/design.md.

    ``run(argv) -> (rc, stdout, stderr)`` runs one command without a shell. Options (all
    optional): namespaces (fnmatch patterns), command_prefix, ovs_command_prefix (None: same as
    command_prefix), state_path, collect_ovs, collect_iptables, parallel, and the binaries
    ip_path, ovs_vsctl_path, ovs_ofctl_path, ovs_timeout. Raises IprouteNoJsonError when
    ``ip -j`` is unsupported, DvrCollectError when ``ip`` cannot run. Never changes anything.
    """
    opts = normalise_options(options)
    host = socket.getfqdn()
    prefix = opts["command_prefix"]
    ip = [*prefix, opts["ip_path"]]
    errors = []  # type: List[dict]

    rc, out, err = run([*ip, "-V"])
    version = (out or err).strip() if rc == 0 else ""
    if rc != 0:
        errors.append(_error("iproute2 version", [*ip, "-V"], rc, err))
    check_ip_json(run, ip, host)

    names = select_namespaces(list_namespaces(run, ip, errors), opts["namespaces"])
    savers = []  # type: List[Tuple[str, str]]
    if opts["collect_iptables"] and names:
        savers, detect_errors = detect_iptables(run, prefix)
        errors.extend(detect_errors)

    with ThreadPoolExecutor(max_workers=opts["parallel"]) as pool:
        ovs_future = pool.submit(collect_ovs, run, opts) if opts["collect_ovs"] else None
        futures = [
            pool.submit(_guarded, _NamespaceCollector(run, ip, n, savers, opts).collect, n)
            for n in names
        ]
        namespaces = [f.result() for f in futures]
        if ovs_future is None:
            ovs = empty_ovs()
        else:
            try:
                ovs = ovs_future.result()
            except Exception as exc:  # never lose the node for OVS
                ovs = empty_ovs()
                ovs["collected"] = True
                ovs["errors"].append(_error("ovs internal error: %r" % exc, None, None, ""))

    return {
        "schema": SCHEMA,
        "hostname": host,
        "iproute2": version,
        "namespaces": namespaces,
        "ovs": ovs,
        "l3_agent_state": collect_l3_agent_state(run, opts, errors),
        "errors": errors,
    }
