"""Parse ``ovs-ofctl dump-flows`` output into plain dicts (stdlib only, Python 3.8+).

Accepts the default output (OpenFlow10, statistics, ``NXST_FLOW reply`` header) and
``-O OpenFlow13 --no-stats`` output (``OFPST_FLOW reply`` header or none). Reply header lines and
blank lines are skipped. Each flow (see docs/design.md, "OVS flow")::

    {"table": 0, "priority": 5, "cookie": "0x510e5047081aea74",
     "match": {"in_port": "1", "dl_dst": "fa:16:3f:9e:52:68", "arp": ""},
     "actions": ["mod_dl_src:fa:16:3e:7a:f3:81", "resubmit(,58)"],
     "raw": "<the line as printed, stripped, without statistics>"}

- Defaults when not printed: table 0, priority 32768 (OFP_DEFAULT_PRIORITY), cookie ``"0x0"``.
- Match: ``key=value`` pairs; bare words (``arp``, ``icmp6``) are keys with value ``""``.
  Names are folded to the OF1.0 ones (``MATCH_NAMES``); ``vlan_vid=4096+N`` becomes
  ``dl_vlan=N`` (other ``vlan_vid`` values are kept as they are).
- Actions are split on top-level commas only (not inside ``()``, ``[]``, ``{}``) and spelled as
  OF1.0 prints them: ``set_field:X->eth_src``/``eth_dst`` -> ``mod_dl_src:X``/``mod_dl_dst:X``,
  ``goto_table:N`` -> ``resubmit(,N)``, ``pop_vlan`` -> ``strip_vlan``,
  ``set_field:4096+N->vlan_vid`` -> ``mod_vlan_vid:N``, and a ``push_vlan:0x8100`` directly
  followed by such a set_field is dropped (OF1.0's ``mod_vlan_vid`` pushes the tag itself).
- MAC addresses in match values and actions are lower-cased; ``raw`` is not canonicalised, it
  only loses ``duration``, ``n_packets``, ``n_bytes``, ``idle_age`` and ``hard_age``.

A line that cannot be parsed raises :class:`ValueError` naming the line number, unless an
``errors`` list is passed: then ``{"line": n, "text": line, "error": msg}`` is appended to it
and the line is skipped.
"""

from __future__ import annotations

import re

DEFAULT_PRIORITY = 32768

MATCH_NAMES = {
    "eth_src": "dl_src",
    "eth_dst": "dl_dst",
    "eth_type": "dl_type",
    "vlan_pcp": "dl_vlan_pcp",
    "ip_src": "nw_src",
    "ip_dst": "nw_dst",
    "ip_proto": "nw_proto",
}

# Fields printed before the match that are flow properties, not match fields.
_STATS = ("duration", "n_packets", "n_bytes", "idle_age", "hard_age")
_PROPERTIES = ("cookie", "table", "priority", "idle_timeout", "hard_timeout", "importance")
_FLAGS = ("send_flow_rem", "check_overlap", "reset_counts", "no_packet_counts", "no_byte_counts")

_HEADER_RE = re.compile(r"^[A-Z0-9_]+ reply\b")
_ACTIONS_RE = re.compile(r"(?:^|[ ,])actions=")
_STATS_RE = re.compile(r"\b(?:%s)=[^,\s]*,\s*" % "|".join(_STATS))
_MAC_RE = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}(?![0-9A-Fa-f])")
_SET_FIELD_RE = re.compile(r"^set_field:(.+)->([A-Za-z0-9_]+)$")


def _lower_macs(value: str) -> str:
    return _MAC_RE.sub(lambda m: m.group(0).lower(), value)


def _vlan_from_vid(value: str) -> int | None:
    """Return N for an OF1.3 ``vlan_vid`` value 0x1000|N (decimal or hex), else None."""
    try:
        vid = int(value, 0)
    except ValueError:
        return None
    if vid & 0x1000 and vid <= 0x1FFF:
        return vid & 0x0FFF
    return None


def split_actions(text: str) -> list[str]:
    """Split an actions string on commas that are not inside ``()``, ``[]`` or ``{}``."""
    parts: list = []
    depth = 0
    start = 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced brackets in actions")
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise ValueError("unbalanced brackets in actions")
    parts.append(text[start:])
    parts = [part.strip() for part in parts]
    if any(not part for part in parts):
        raise ValueError("empty action")
    return parts


def canonical_actions(actions: list[str]) -> list[str]:
    """Spell a list of actions the way OF1.0 prints them (see module doc)."""
    out: list = []
    for action in actions:
        action = _lower_macs(action)
        set_field = _SET_FIELD_RE.match(action)
        if set_field:
            value, field = set_field.groups()
            if field == "eth_src":
                action = "mod_dl_src:" + value
            elif field == "eth_dst":
                action = "mod_dl_dst:" + value
            elif field == "vlan_vid":
                vlan = _vlan_from_vid(value)
                if vlan is not None:
                    action = "mod_vlan_vid:%d" % vlan
                    if out and out[-1] == "push_vlan:0x8100":
                        out.pop()
        elif action.startswith("goto_table:"):
            action = "resubmit(,%s)" % action[len("goto_table:") :]
        elif action == "pop_vlan":
            action = "strip_vlan"
        out.append(action)
    return out


def parse_flow(line: str) -> dict:
    """Parse one flow line (with or without statistics); raise ValueError if malformed."""
    stripped = line.strip()
    found = _ACTIONS_RE.search(stripped)
    if not found:
        raise ValueError("no actions=")
    head = stripped[: found.start()]
    flow: dict = {
        "table": 0,
        "priority": DEFAULT_PRIORITY,
        "cookie": "0x0",
        "match": {},
        "actions": canonical_actions(split_actions(stripped[found.end() :])),
        "raw": _STATS_RE.sub("", stripped),
    }
    for item in head.split(","):
        item = item.strip()
        if not item:
            continue
        key, has_value, value = item.partition("=")
        if key in _STATS or key in _FLAGS:
            continue
        if key in ("table", "priority"):
            try:
                flow[key] = int(value, 0)
            except ValueError:
                raise ValueError("bad %s %r" % (key, value)) from None
        elif key == "cookie":
            flow["cookie"] = value
        elif key in _PROPERTIES:
            continue
        elif not key or " " in key or (has_value and not value):
            raise ValueError("bad match item %r" % item)
        elif key == "vlan_vid" and _vlan_from_vid(value) is not None:
            flow["match"]["dl_vlan"] = str(_vlan_from_vid(value))
        else:
            flow["match"][MATCH_NAMES.get(key, key)] = _lower_macs(value)
    return flow


def parse_dump_flows(text: str, errors: list | None = None) -> list[dict]:
    """Parse ``ovs-ofctl dump-flows`` text into a list of flows in dump order (see module doc)."""
    flows: list = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or _HEADER_RE.match(line.strip()):
            continue
        try:
            flows.append(parse_flow(line))
        except ValueError as exc:
            if errors is None:
                raise ValueError("line %d: %s: %r" % (lineno, exc, line)) from None
            errors.append({"line": lineno, "text": line, "error": str(exc)})
    return flows


def flows_by_table(flows: list[dict]) -> dict[int, list]:
    """Group flows by table number (ascending), keeping dump order within a table."""
    tables: dict = {}
    for flow in sorted(flows, key=lambda flow: flow["table"]):
        tables.setdefault(flow["table"], []).append(flow)
    return tables
