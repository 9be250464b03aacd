"""Shared plumbing for the check families: a findings collector and lookups with 'not verified'."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dvr_verify.findings import Finding, Status
from dvr_verify.model import Namespace, NodeObservation

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

    def permanent_neighbour(
        self, check: str, subject: str, ns: Namespace, host: str, dev: str, ip: object, mac: str
    ) -> None:
        """Neutron pins `ip` to `mac` on `dev` with a PERMANENT neighbour entry."""
        entry = ns.neighbour(dev, ip)  # type: ignore[arg-type]
        ok = entry is not None and entry.permanent and entry.lladdr == mac
        self.verdict(
            check,
            ok,
            subject,
            expected=f"{ip} lladdr {mac} PERMANENT",
            observed="none" if entry is None else f"{entry.lladdr} {'/'.join(entry.states)}",
            node=host,
            namespace=ns.name,
            device=dev,
            hint=netns_cmd(ns.name, f"ip neigh show dev {dev}"),
        )

    def sysctl(
        self,
        namespace: Namespace,
        host: str,
        key: str,
        allowed: tuple[str, ...],
        check: str,
        subject: str,
        device: str = "",
        fail: Status = Status.FAIL,
    ) -> None:
        value = namespace.sysctl(key)
        hint = netns_cmd(namespace.name, f"sysctl {key}")
        if value is None:
            self.not_verified(
                check,
                subject,
                f"{key} not collected",
                node=host,
                namespace=namespace.name,
                device=device,
                hint=hint,
            )
            return
        self.verdict(
            check,
            value in allowed,
            subject,
            expected=f"{key} in {'/'.join(allowed)}",
            observed=f"{key} = {value}",
            fail=fail,
            node=host,
            namespace=namespace.name,
            device=device,
            hint=hint,
        )
