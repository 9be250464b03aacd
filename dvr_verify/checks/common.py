"""Shared plumbing for the check families: a findings collector and lookups with 'not verified'."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dvr_verify.findings import Finding, Status
from dvr_verify.model import IPAddress, IptRule, Namespace, NodeObservation

Nodes = Mapping[str, NodeObservation]


def netns_cmd(namespace: str, command: str) -> str:
    """The runbook's way to look inside a namespace."""
    return f"ip netns exec {namespace} {command}"


@dataclass
class Findings:
    """Accumulates the findings of one check family."""

    items: list[Finding] = field(default_factory=list)

    def add(self, check: str, status: Status, subject: str, **kw: str) -> None:
        self.items.append(Finding(check=check, status=status, subject=subject, **kw))

    def verdict(
        self,
        check: str,
        ok: bool,
        subject: str,
        *,
        expected: str,
        observed: str,
        fail: Status = Status.FAIL,
        **kw: str,
    ) -> bool:
        """PASS when `ok`, else `fail` (FAIL unless a warning is the right severity)."""
        self.add(
            check, Status.PASS if ok else fail, subject, expected=expected, observed=observed, **kw
        )
        return ok

    def not_verified(self, check: str, subject: str, why: str, **kw: str) -> None:
        self.add(check, Status.NOT_VERIFIED, subject, observed=why, **kw)

    def at(self, host: str, ns: Namespace | None, subject: str) -> At:
        """Findings about `subject` on `host`, inside `ns` (None: on the host itself)."""
        return At(self, host, ns, subject)

    def namespace(
        self, nodes: Nodes, host: str, name: str, check: str, subject: str
    ) -> Namespace | None:
        """The namespace if it was collected whole; otherwise a NOT_VERIFIED (or FAIL) finding.

        A host that was not collected, or a namespace that vanished or failed mid-collection, gives
        'not verified'; a collected host without the namespace is a FAIL of `check`.
        """
        node = nodes.get(host)
        if node is None:
            self.not_verified(check, subject, "host not collected", node=host, namespace=name)
            return None
        namespace = node.namespaces.get(name)
        if namespace is None:
            self.add(
                check,
                Status.FAIL,
                subject,
                node=host,
                namespace=name,
                expected="namespace present",
                observed="namespace missing",
                hint="ip netns",
            )
            return None
        if not namespace.ok:
            why = f"namespace {namespace.status}: {'; '.join(namespace.errors)}".rstrip(": ")
            self.not_verified(check, subject, why, node=host, namespace=name)
            return None
        return namespace


@dataclass(frozen=True)
class At:
    """Findings bound to one subject, host and namespace: node, namespace and hint filled in.

    `cmd` is the command that confirms a verdict, run inside `ns` (or on the host when `ns` is
    None); `hint` is a confirming command taken verbatim instead (an API call, say).
    """

    fin: Findings
    host: str
    ns: Namespace | None
    subject: str

    def _where(self, device: str, cmd: str, hint: str) -> dict[str, str]:
        name = self.ns.name if self.ns is not None else ""
        if cmd:
            hint = netns_cmd(name, cmd) if name else cmd
        return {"node": self.host, "namespace": name, "device": device, "hint": hint}

    @property
    def inside(self) -> Namespace:
        """The namespace the findings are about (a host-level context has none)."""
        if self.ns is None:
            raise ValueError(f"{self.subject} on {self.host}: no namespace to look in")
        return self.ns

    def verdict(
        self,
        check: str,
        ok: bool,
        *,
        expected: str,
        observed: str,
        device: str = "",
        cmd: str = "",
        hint: str = "",
        fail: Status = Status.FAIL,
    ) -> bool:
        """PASS when `ok`, else `fail`; returns `ok`."""
        where = self._where(device, cmd, hint)
        return self.fin.verdict(
            check, ok, self.subject, expected=expected, observed=observed, fail=fail, **where
        )

    def fail(
        self, check: str, *, expected: str, observed: str, device: str = "", cmd: str = ""
    ) -> None:
        self.fin.add(
            check,
            Status.FAIL,
            self.subject,
            expected=expected,
            observed=observed,
            **self._where(device, cmd, ""),
        )

    def not_verified(
        self, check: str, why: str, *, device: str = "", cmd: str = "", hint: str = ""
    ) -> None:
        self.fin.not_verified(check, self.subject, why, **self._where(device, cmd, hint))

    def absent(self, check: str, found: list[str], *, expected: str, cmd: str) -> bool:
        """PASS when nothing unwanted was `found`; the observation lists what was."""
        return self.verdict(
            check, not found, expected=expected, observed=", ".join(found) or "none", cmd=cmd
        )

    def permanent_neighbour(self, check: str, dev: str, ip: IPAddress, mac: str) -> None:
        """Neutron pins `ip` to `mac` on `dev` with a PERMANENT neighbour entry."""
        entry = self.inside.neighbour(dev, ip)
        self.verdict(
            check,
            entry is not None and entry.permanent and entry.lladdr == mac,
            expected=f"{ip} lladdr {mac} PERMANENT",
            observed="none" if entry is None else f"{entry.lladdr} {'/'.join(entry.states)}",
            device=dev,
            cmd=f"ip neigh show dev {dev}",
        )

    def state_entry(
        self,
        check: str,
        state_path: str,
        file: str,
        entries: Mapping[Any, Any] | None,
        key: Any,
        ok: Callable[[Any], bool],
        *,
        expected: str,
        missing: str = "no entry",
    ) -> None:
        """The entry of `key` in the L3 agent's state file `file` (parsed as `entries`, None when
        unreadable: NOT_VERIFIED) satisfies `ok`; observed is the entry's `key,value` line."""
        cmd = f"cat {state_path}/{file}"
        if entries is None:
            self.not_verified(check, f"{file} not readable", cmd=cmd)
            return
        value = entries.get(key)
        self.verdict(
            check,
            ok(value),
            expected=expected,
            observed=f"{key},{value}" if value else missing,
            cmd=cmd,
        )

    def sysctl(
        self,
        check: str,
        key: str,
        allowed: tuple[str, ...],
        *,
        device: str = "",
        fail: Status = Status.FAIL,
    ) -> None:
        """`key` reads one of `allowed` in the namespace."""
        value = self.inside.sysctl(key)
        cmd = f"sysctl {key}"
        if value is None:
            self.not_verified(check, f"{key} not collected", device=device, cmd=cmd)
            return
        self.verdict(
            check,
            value in allowed,
            expected=f"{key} in {'/'.join(allowed)}",
            observed=f"{key} = {value}",
            device=device,
            cmd=cmd,
            fail=fail,
        )

    def iptables_rule(
        self, check: str, table: str, rule: IptRule | None, *, expected: str, device: str = ""
    ) -> bool:
        """PASS when the wanted iptables `rule` of `table` was found (the caller's lookup)."""
        return self.verdict(
            check,
            rule is not None,
            expected=expected,
            observed=rule.raw if rule else "no such rule",
            device=device,
            cmd=f"iptables-save -t {table}",
        )

    def route(
        self,
        check: str,
        dst: IPAddress | str,
        via: IPAddress | None,
        dev: str,
        *,
        table: str = "main",
        empty: str = "",
        unknown_via: str = "None",
    ) -> bool:
        """A route `dst via <via> dev <dev>` in `table`; `via` None accepts any gateway.

        `dst` is an address (host route, bare or /32) or "default". The observation lists the
        whole table, or in main only the routes to `dst`; `empty` replaces the default text for
        none, `unknown_via` the expected gateway when `via` is None.
        """
        routes = self.inside.routes_in(table)
        to_dst = [r for r in routes if r.dst in (str(dst), f"{dst}/32")]
        ok = any(r.dev == dev and (via is None or r.gateway == via) for r in to_dst)
        gateway = unknown_via if via is None else via
        if table == "main":
            shown, in_table, cmd = to_dst, "", "ip route"
            empty = empty or ("no default route" if dst == "default" else "no route")
        else:
            shown, in_table, cmd = routes, f" table {table}", f"ip route show table {table}"
            empty = empty or "table empty"
        return self.verdict(
            check,
            ok,
            expected=f"{dst} via {gateway} dev {dev}{in_table}",
            observed=", ".join(r.text() for r in shown) or empty,
            device=dev,
            cmd=cmd,
        )
