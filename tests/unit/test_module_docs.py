"""Every module's DOCUMENTATION options (doc fragments merged, as ansible-doc merges them) are
exactly the argument_spec the module gives AnsibleModule: names, types, elements, defaults,
choices and required. DOCUMENTATION is a literal that ansible-doc reads statically, so a default
changed in the code only (or in the documentation only) is caught here."""

from __future__ import annotations

import configparser
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import ansible.module_utils
import pytest
import yaml
from ansible.module_utils import basic
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import get_docstring

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "library"
MODULES = sorted(path.stem for path in LIBRARY.glob("*.py"))
PROBES = ["dvr_arp_probe", "dvr_capture", "dvr_edge_probe", "dvr_reach_probe", "dvr_traceroute"]


class _Constructed(Exception):
    """AnsibleModule(...) was called; args[0] holds its keyword arguments."""


@pytest.fixture(scope="module", autouse=True)
def module_utils() -> Iterator[None]:
    """``ansible.module_utils.dvr_*`` importable here, as ansible.cfg's module_utils makes them."""
    path = str(REPO / "module_utils")
    ansible.module_utils.__path__.append(path)
    fragment_loader.add_directory(str(REPO / "doc_fragments"))
    try:
        yield
    finally:
        ansible.module_utils.__path__.remove(path)
        for name in [n for n in sys.modules if n.startswith("ansible.module_utils.dvr_")]:
            del sys.modules[name]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("library_" + name, LIBRARY / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def module_kwargs(name: str) -> dict[str, Any]:
    """The keyword arguments the module's main() passes to AnsibleModule (which never runs)."""

    def construct(self: object, **kwargs: Any) -> None:
        raise _Constructed(kwargs)

    with (
        mock.patch.object(basic.AnsibleModule, "__init__", construct),
        pytest.raises(_Constructed) as constructed,
    ):
        _load(name).main()
    return constructed.value.args[0]


def documentation(name: str) -> dict[str, Any]:
    """DOCUMENTATION with its fragments merged, read statically as ansible-doc reads it."""
    doc, _examples, _returns, _metadata = get_docstring(
        str(LIBRARY / f"{name}.py"), fragment_loader, is_module=True
    )
    return doc


def _fields(option: dict[str, Any]) -> str:
    """What the documentation and the spec must agree on, as JSON (so 2 differs from 2.0)."""
    fields = {
        "type": option.get("type", "str"),
        "elements": option.get("elements"),
        "default": option.get("default"),
        "choices": option.get("choices"),
        "required": bool(option.get("required", False)),
    }
    return json.dumps(fields, sort_keys=True)


@pytest.mark.parametrize("name", MODULES)
def test_documented_options_are_the_argument_spec(name: str) -> None:
    documented = {k: _fields(v) for k, v in documentation(name)["options"].items()}
    spec = {k: _fields(v) for k, v in module_kwargs(name)["argument_spec"].items()}
    assert documented == spec


@pytest.mark.parametrize("name", MODULES)
def test_read_only_and_check_mode(name: str) -> None:
    doc = documentation(name)
    assert module_kwargs(name)["supports_check_mode"] is True
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert doc["attributes"]["diff_mode"]["support"] == "none"
    for attribute in doc["attributes"].values():
        assert attribute["description"]  # from action_common_attributes


@pytest.mark.parametrize("name", PROBES)
def test_probe_modules_share_the_fragment(name: str) -> None:
    doc = documentation(name)
    assert any(r.startswith("scapy >= ") for r in doc["requirements"])
    has_netns = "netns" in module_kwargs(name)["argument_spec"]
    assert has_netns == (name != "dvr_edge_probe")
    assert ("netns" in doc["options"]) == has_netns


@pytest.mark.parametrize("name", MODULES)
def test_examples_and_return_parse(name: str) -> None:
    module = _load(name)
    assert yaml.safe_load(module.EXAMPLES)
    returns = yaml.safe_load(module.RETURN)
    assert "changed" not in returns  # a common return value, documented by Ansible
    if name in PROBES:
        assert {"scapy_version", "elapsed"} <= set(returns)


def test_collect_defaults_follow_the_argument_spec() -> None:
    from ansible.module_utils.dvr_collect import ARGUMENT_SPEC, DEFAULT_OPTIONS

    for key, spec in ARGUMENT_SPEC.items():
        assert DEFAULT_OPTIONS[key] == spec.get("default")


def test_ansible_cfg_points_at_the_doc_fragments() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "ansible.cfg")
    assert (REPO / cfg["defaults"]["doc_fragment_plugins"]).resolve() == REPO / "doc_fragments"
