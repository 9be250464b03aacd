"""Reports of a run: readable text, JSON, JUnit XML, and the process exit code.

Input is the list of `Finding`s the checks returned, plus optional per-floating-IP summary rows
(dicts with the keys of `SUMMARY_KEYS`; lists are joined, None prints as "-").
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from dvr_verify.findings import Finding, Status

SUMMARY_KEYS: tuple[str, ...] = (
    "fip", "vm", "host", "fg_mac", "arp_responders", "rfp_fpr", "hops", "verdict",
)  # fmt: skip
REPORT_SCHEMA = 1
FILES: dict[str, str] = {"text": "summary.txt", "json": "report.json", "junit": "junit.xml"}

SummaryRow = Mapping[str, Any]


def count_statuses(findings: Iterable[Finding]) -> dict[Status, int]:
    """How many findings have each status (every status present, 0 if none)."""
    counts = Counter(finding.status for finding in findings)
    return {status: counts.get(status, 0) for status in Status}


def counts_line(findings: Iterable[Finding]) -> str:
    """`N passed, N failed, N warnings, N not verified`."""
    counts = count_statuses(findings)
    return (
        f"{counts[Status.PASS]} passed, {counts[Status.FAIL]} failed, "
        f"{counts[Status.WARN]} warnings, {counts[Status.NOT_VERIFIED]} not verified"
    )


def exit_code(findings: Iterable[Finding]) -> int:
    """1 if any finding failed, else 0 (warnings and not-verified do not fail a run)."""
    return 1 if any(finding.failed for finding in findings) else 0


# --- text ----------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{key}={_cell(item)}" for key, item in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(item) for item in value) or "-"
    if isinstance(value, set | frozenset):
        return ", ".join(sorted(_cell(item) for item in value)) or "-"
    return str(value)


def _hops_cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " -> ".join("*" if hop is None else _cell(hop) for hop in value) or "-"
    return _cell(value)


def _summary_table(row: SummaryRow) -> list[str]:
    verdict = _cell(row.get("verdict")).upper()
    lines = [f"Floating IP {_cell(row.get('fip'))}  [{verdict}]"]
    keys = [key for key in SUMMARY_KEYS if key not in ("fip", "verdict")]
    keys += [key for key in row if key not in SUMMARY_KEYS]
    width = max(len(key) for key in keys)
    for key in keys:
        value = _hops_cell(row.get(key)) if key == "hops" else _cell(row.get(key))
        lines.append(f"  {key:<{width}}  {value}")
    return lines


def _finding_lines(finding: Finding) -> list[str]:
    lines = [f"  {replace(finding, hint='').line()}"]
    if finding.hint:
        lines.append(f"      confirm: {finding.hint}")
    return lines


def render_text(
    findings: Sequence[Finding],
    summary_rows: Sequence[SummaryRow] = (),
    verdict_lines: Sequence[str] = (),
) -> str:
    """A readable summary: one table per floating IP, then failures, warnings and what could not
    be verified (each with its `confirm:` hint line), the run's `verdict_lines` (strict mode),
    then the counts line."""
    out: list[str] = []
    for row in summary_rows:
        out += [*_summary_table(row), ""]
    sections = (
        (Status.FAIL, "Failures"),
        (Status.WARN, "Warnings"),
        (Status.NOT_VERIFIED, "Not verified"),
    )
    for status, title in sections:
        selected = [finding for finding in findings if finding.status is status]
        if not selected:
            continue
        out.append(f"{title} ({len(selected)})")
        for finding in selected:
            out += _finding_lines(finding)
        out.append("")
    if verdict_lines:
        out += [*verdict_lines, ""]
    out.append(counts_line(findings))
    return "\n".join(out) + "\n"


# --- JSON ----------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, IPv4Address | IPv6Address | IPv4Network | IPv6Network | Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__} {value!r}")


def to_json(
    findings: Sequence[Finding],
    summary_rows: Sequence[SummaryRow] = (),
    meta: Mapping[str, Any] | None = None,
    code: int | None = None,
) -> str:
    """The whole run as JSON: schema, meta, counts (by status value), the exit code (`code`, else
    `exit_code(findings)`), summary rows, findings.

    Addresses, paths and sets in rows or meta are written as strings / sorted lists.
    """
    document = {
        "schema": REPORT_SCHEMA,
        "meta": dict(meta or {}),
        "counts": {status.value: n for status, n in count_statuses(findings).items()},
        "exit_code": exit_code(findings) if code is None else code,
        "summary": [dict(row) for row in summary_rows],
        "findings": [finding.as_dict() for finding in findings],
    }
    return json.dumps(document, indent=2, default=_json_default) + "\n"


def findings_from_json(text: str) -> list[Finding]:
    """The findings of a `to_json` document, as `Finding`s again."""
    return [
        Finding(**{**item, "status": Status(item["status"])})
        for item in json.loads(text)["findings"]
    ]


# --- JUnit XML -----------------------------------------------------------------------------------

# XML 1.0 forbids most C0 control characters; command stderr may carry them.
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _testcase_name(finding: Finding) -> str:
    name = f"{finding.subject} {finding.check}"
    return f"{name} @ {finding.node}" if finding.node else name


def _details(finding: Finding) -> str:
    fields = ("node", "namespace", "device", "expected", "observed", "detail", "hint")
    return "\n".join(f"{key}: {value}" for key in fields if (value := getattr(finding, key)))


def to_junit(
    findings: Sequence[Finding],
    suite_name: str = "dvr-verify",
    failing: Collection[Finding] = (),
) -> str:
    """JUnit XML: one testcase per finding, classname = check family (`fg` of `fg.proxy_arp`),
    name = "<subject> <check>" plus " @ <node>" when the finding has a node.

    FAIL gives <failure message=Finding.line()>, NOT_VERIFIED <skipped message=...> (a <failure
    type="not_verified"> when in `failing`: strict mode's); WARN passes with its line in
    <system-out>. A name already used in the suite gets the device, the namespace or "#n" appended
    so that every testcase name is unique.
    """
    counts = count_statuses(findings)
    failing = [f for f in findings if f.status is Status.NOT_VERIFIED and f in failing]
    totals = {
        "tests": str(len(findings)),
        "failures": str(counts[Status.FAIL] + len(failing)),
        "errors": "0",
        "skipped": str(counts[Status.NOT_VERIFIED] - len(failing)),
    }
    root = ET.Element("testsuites", {"name": _xml_text(suite_name), **totals})
    suite = ET.SubElement(root, "testsuite", {"name": _xml_text(suite_name), **totals})
    used: set[tuple[str, str]] = set()
    for finding in findings:
        classname = finding.check.split(".", 1)[0]
        name = _testcase_name(finding)
        extras = (finding.device, finding.namespace)
        for extra in extras:
            if (classname, name) not in used:
                break
            if extra:
                name = f"{name} {extra}"
        base, serial = name, 2
        while (classname, name) in used:
            name, serial = f"{base} #{serial}", serial + 1
        used.add((classname, name))
        case = ET.SubElement(
            suite, "testcase", {"classname": _xml_text(classname), "name": _xml_text(name)}
        )
        message = _xml_text(finding.line())
        if finding.status is Status.FAIL:
            failure = ET.SubElement(case, "failure", {"message": message, "type": "fail"})
            failure.text = _xml_text(_details(finding))
        elif finding.status is Status.NOT_VERIFIED and finding in failing:
            failure = ET.SubElement(case, "failure", {"message": message, "type": "not_verified"})
            failure.text = _xml_text(_details(finding))
        elif finding.status is Status.NOT_VERIFIED:
            skipped = ET.SubElement(case, "skipped", {"message": message})
            skipped.text = _xml_text(_details(finding))
        elif finding.status is Status.WARN:
            ET.SubElement(case, "system-out").text = message
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


# --- files ---------------------------------------------------------------------------------------


def write_run(
    directory: Path | str,
    findings: Sequence[Finding],
    summary_rows: Sequence[SummaryRow] = (),
    meta: Mapping[str, Any] | None = None,
    suite_name: str = "dvr-verify",
    verdict_lines: Sequence[str] = (),
    code: int | None = None,
    failing: Collection[Finding] = (),
) -> dict[str, Path]:
    """Write summary.txt, report.json and junit.xml into `directory` (created if missing);
    `verdict_lines`, `code` and `failing` as for `render_text`, `to_json` and `to_junit`.

    Returns their paths keyed "text", "json", "junit".
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    contents = {
        "text": render_text(findings, summary_rows, verdict_lines),
        "json": to_json(findings, summary_rows, meta, code),
        "junit": to_junit(findings, suite_name, failing),
    }
    paths: dict[str, Path] = {}
    for key, content in contents.items():
        path = target / FILES[key]
        path.write_text(content, encoding="utf-8")
        paths[key] = path
    return paths
