"""Parse ``iptables-save`` output into plain dicts (stdlib only, Python 3.8+).

Shape (see docs/design.md, "iptables table")::

    {"<table>": {"chains": {"<chain>": {"policy": "ACCEPT" | None, "rules": [<rule>, ...]}}}}

    <rule> = {"raw": "<rule text after '-A <chain> '>",
              "target": "<-j value, else -g value>" | None,
              "options": {"-d": "172.30.89.152/32", "--random-fully": "", ...},
              "matches": ["conntrack", ...],
              "negated": ["-o", "--ctstate"]}

Rules:

- Long spellings of the core options are folded to the short ones iptables-save prints
  (``--source`` -> ``-s``, ``--jump`` -> ``-j``, ``--match`` -> ``-m`` ...).
- ``options`` maps every option to its LAST value (the arguments up to the next option joined
  by one space, ``""`` for a flag). Since ``-m`` can repeat, ``matches`` lists the module of
  every ``-m`` in order.
- ``negated`` lists the options preceded by ``!``.
- Arguments are split with :mod:`shlex`, so ``--comment "a b"`` is one value ``a b``. A token
  that looks like an option (``-x``/``--xx``) always starts a new option, even if it was quoted.
- A chain policy of ``-`` (user chain) becomes ``None``; ``#`` comments, blank lines and
  ``COMMIT`` are skipped; a ``[packets:bytes]`` prefix (``iptables-save -c``) is ignored.
- Empty input gives ``{}``.

A line that cannot be parsed raises :class:`ValueError` naming the line number, unless an
``errors`` list is passed: then ``{"line": n, "text": line, "error": msg}`` is appended to it
and the line is skipped.
"""

from __future__ import annotations

import re
import shlex

LONG_TO_SHORT = {
    "--source": "-s",
    "--src": "-s",
    "--destination": "-d",
    "--dst": "-d",
    "--in-interface": "-i",
    "--out-interface": "-o",
    "--protocol": "-p",
    "--jump": "-j",
    "--goto": "-g",
    "--match": "-m",
    "--fragment": "-f",
}

_OPTION_RE = re.compile(r"^--?[A-Za-z]")
_COUNTERS_RE = re.compile(r"^\[\d+:\d+\]\s+")
_RULE_RE = re.compile(r"^-A\s+(\S+)(?:\s+(.*))?$")
_CHAIN_RE = re.compile(r"^:(\S+)\s+(\S+)(?:\s+\[\d+:\d+\])?$")


def parse_rule(raw: str) -> dict:
    """Parse the part of a rule after ``-A <chain>``; raise ValueError if malformed."""
    try:
        tokens = shlex.split(raw)
    except ValueError as exc:
        raise ValueError("cannot split rule: %s" % exc) from None
    options: dict = {}
    matches: list = []
    negated: list = []
    negate_next = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "!":
            if negate_next or i + 1 >= len(tokens) or not _OPTION_RE.match(tokens[i + 1]):
                raise ValueError("'!' not followed by an option")
            negate_next = True
            i += 1
            continue
        if not _OPTION_RE.match(token):
            raise ValueError("unexpected argument %r" % token)
        name = LONG_TO_SHORT.get(token, token)
        values = []
        i += 1
        while i < len(tokens) and tokens[i] != "!" and not _OPTION_RE.match(tokens[i]):
            values.append(tokens[i])
            i += 1
        value = " ".join(values)
        options[name] = value
        if name == "-m":
            matches.append(value)
        if negate_next:
            negated.append(name)
            negate_next = False
    target = options.get("-j") or options.get("-g") or None
    return {
        "raw": raw,
        "target": target,
        "options": options,
        "matches": matches,
        "negated": negated,
    }


def parse_iptables_save(text: str, errors: list | None = None) -> dict:
    """Parse ``iptables-save`` text into ``{table: {"chains": {...}}}`` (see module doc)."""
    tables: dict = {}
    current: dict | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        try:
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("*"):
                name = stripped[1:].strip()
                if not name:
                    raise ValueError("table line without a name")
                current = tables.setdefault(name, {"chains": {}})
                continue
            if stripped == "COMMIT":
                if current is None:
                    raise ValueError("COMMIT outside a table")
                current = None
                continue
            if current is None:
                raise ValueError("line outside a table")
            if stripped.startswith(":"):
                match = _CHAIN_RE.match(stripped)
                if not match:
                    raise ValueError("malformed chain line")
                chain = current["chains"].setdefault(match.group(1), {"policy": None, "rules": []})
                policy = match.group(2)
                chain["policy"] = None if policy == "-" else policy
                continue
            match = _RULE_RE.match(_COUNTERS_RE.sub("", stripped))
            if not match:
                raise ValueError("not a table, chain, rule or COMMIT line")
            rule = parse_rule(match.group(2) or "")
            chain = current["chains"].setdefault(match.group(1), {"policy": None, "rules": []})
            chain["rules"].append(rule)
        except ValueError as exc:
            if errors is None:
                raise ValueError("line %d: %s: %r" % (lineno, exc, line)) from None
            errors.append({"line": lineno, "text": line, "error": str(exc)})
    return tables


def has_neutron_chains(tables: dict) -> bool:
    """True if any table of a parsed dump has a chain whose name starts with ``neutron-``."""
    return any(
        name.startswith("neutron-") for table in tables.values() for name in table.get("chains", {})
    )
