"""No CI job publishes a private SSH key, and no task logs one.

The CI jobs publish what a run leaves: GitHub Actions uploads artifacts (upload-artifact `path`
patterns), Zuul copies files into the job's logs (its job playbooks' find + fetch / synchronize /
copy). Here the run directory the role lays out (`dvr_verify_run_path`, resolved from the role's
defaults, vars and setup as a CI run resolves them) and every key pair a task writes (ssh-keygen
-f, resolved the same way) are laid out under each job's checkout, with a key left in the run
directory by an older version too, and each job's publish selection is applied to them.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "dvr_verify"
HOME, SRC = "/home/zuul", "src/opendev.org/x/dvr-verify"
RUN_ID = "gh-1-1"
# What the run directory holds besides the files the role's tasks name (the dvr-verify steps and
# the CI jobs write these); and a key an older version put there, which kept runs still hold.
RUN_FILES = [
    "preflight.json", "resources.json", "summary.txt", "report.json", "junit.xml",
    "probes.json", "timings.json", "infra-junit.xml", "api/ports.json", "nodes/node-12.json",
    "probes/edge.json",
]  # fmt: skip
LEGACY_KEY = "id_ed25519"
REPORTS = {"summary.txt", "report.json", "junit.xml"}
TASK_KEYWORDS = {
    "name", "when", "vars", "register", "loop", "loop_control", "become", "changed_when",
    "failed_when", "no_log", "tags", "environment", "delegate_to", "ignore_errors", "args",
    "block", "rescue", "always", "notify", "until", "retries", "delay", "run_once", "listen",
}  # fmt: skip


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) or []


def _tasks(items: Any) -> Iterator[dict[str, Any]]:
    """Every task of a play list or task list, blocks' tasks included."""
    for item in items or []:
        if not isinstance(item, dict):
            continue
        if "hosts" in item:
            for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                yield from _tasks(item.get(section))
            continue
        yield item
        for section in ("block", "rescue", "always"):
            yield from _tasks(item.get(section))


def _module(task: Mapping[str, Any]) -> tuple[str, Any]:
    """The task's module (short name) and its arguments."""
    for key, value in task.items():
        if key not in TASK_KEYWORDS:
            return key.rsplit(".", 1)[-1], value
    return "", None


def _resolve(template: Any, scope: Mapping[str, Any], depth: int = 0) -> Any:
    """`template` rendered the way Ansible would with the variables `scope` (lazily, as Ansible
    does: a variable's own template is rendered when used)."""
    if not isinstance(template, str) or "{{" not in template:
        return template
    assert depth < 20, f"variables refer to each other in a loop: {template}"
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters.update(dirname=posixpath.dirname, basename=posixpath.basename, quote=shlex.quote)
    env.filters["ternary"] = lambda value, yes, no: yes if value else no
    # where ansible-playbook runs (the job's cwd): what a relative path's realpath starts from
    cwd = scope.get("__cwd__", "/")
    env.filters["ansible.builtin.realpath"] = lambda p: posixpath.normpath(posixpath.join(cwd, p))
    env.tests["abs"] = posixpath.isabs
    names = jinja2.meta.find_undeclared_variables(env.parse(template))
    values = {n: _resolve(scope[n], scope, depth + 1) for n in names if n in scope}
    values["lookup"] = lambda plugin, name, **_: scope["__env__"].get(name, "")
    return env.from_string(template).render(values).strip()


def _role_scope(project: str) -> dict[str, Any]:
    """The dvr_verify role's variables in a CI run checked out at `project`: its defaults and
    vars, the run id the jobs pass, and the run directory as setup.yml sets it."""
    scope: dict[str, Any] = {**_yaml(ROLE / "defaults/main.yml"), **_yaml(ROLE / "vars/main.yml")}
    scope.update(role_path=f"{project}/roles/dvr_verify", dvr_verify_run_id=RUN_ID)
    scope["__env__"] = {"PWD": project}
    scope["__cwd__"] = project
    for task in _tasks(_yaml(ROLE / "tasks" / "setup.yml")):
        module, args = _module(task)
        if module == "set_fact" and "dvr_verify_run_path" in args:
            scope["dvr_verify_run_path"] = args["dvr_verify_run_path"]
    return scope


def _zuul_scope(play: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Zuul job's variables on its controller: the play's vars and what Zuul and facts give."""
    zuul = {"project": {"src_dir": SRC}, "build": "0" * 32, "executor": {"log_root": "/logs"}}
    scope: dict[str, Any] = {"ansible_user_dir": HOME, "zuul": zuul, "__env__": {}}
    scope["hostvars"] = {"controller": {"ansible_user_dir": HOME}}
    scope.update((play or {}).get("vars") or {})
    return scope


def _keygen_target(task: Mapping[str, Any]) -> str | None:
    """The private key file an ssh-keygen task writes (`-f`), as written in the task."""
    module, args = _module(task)
    if module not in ("command", "shell"):
        return None
    argv = args.get("argv") if isinstance(args, dict) else None
    if argv is None:
        text = args.get("cmd", "") if isinstance(args, dict) else str(args)
        argv = shlex.split(text)
    if not argv or posixpath.basename(str(argv[0])) != "ssh-keygen" or "-f" not in argv:
        return None
    return str(argv[argv.index("-f") + 1])


def _playbook_keys(path: Path, scope_of: Any) -> list[str]:
    """The private keys the tasks of the playbook or task file `path` write, resolved."""
    doc = _yaml(path)
    plays = doc if doc and isinstance(doc[0], dict) and "hosts" in doc[0] else [None]
    keys = []
    for play in plays:
        for task in _tasks([play] if play else doc):
            target = _keygen_target(task)
            if target:
                scope = {**scope_of(play), **(task.get("vars") or {})}
                keys.append(_resolve(target, scope))
    return keys


def _written_keys(project: str) -> list[str]:
    """Every private key the role and the job playbooks write in a CI run at `project`."""
    keys = []
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        keys += _playbook_keys(path, lambda _: _role_scope(project))
    for path in sorted((REPO / "playbooks" / "zuul").glob("*.yml")):
        keys += _playbook_keys(path, _zuul_scope)
    return keys


def _run_tree(project: str) -> tuple[set[str], set[str]]:
    """The files a CI run at `project` leaves (run directory and keys) and, of them, the private
    keys."""
    scope = _role_scope(project)
    run_path = _resolve(scope["dvr_verify_run_path"], scope)
    files = {f"{run_path}/{name}" for name in RUN_FILES}
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in _tasks(_yaml(path)):
            _, args = _module(task)
            dest = args.get("dest") if isinstance(args, dict) else None
            if isinstance(dest, str) and "dvr_verify_run_path" in dest:
                files.add(_resolve(dest, {**scope, **(task.get("vars") or {})}))
    keys = {f"{run_path}/{LEGACY_KEY}", *_written_keys(project)}
    return files | keys | {f"{key}.pub" for key in keys}, keys


def test_the_tree_holds_the_run_directory_and_every_key() -> None:
    files, keys = _run_tree(f"{HOME}/{SRC}")
    run = f"{HOME}/{SRC}/runs/{RUN_ID}"
    assert {f"{run}/summary.txt", f"{run}/run.json", f"{run}/ssh_config"} <= files
    assert {f"{run}/{LEGACY_KEY}", f"{HOME}/.ssh/dvr_verify_ed25519"} <= keys  # Zuul's harness key


def test_the_runs_private_key_is_written_outside_the_run_directory() -> None:
    scope = _role_scope(f"{HOME}/{SRC}")
    run_path = _resolve(scope["dvr_verify_run_path"], scope)
    runs_dir = _resolve(scope["dvr_verify_runs_dir"], scope)
    role_keys = []
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        role_keys += _playbook_keys(path, lambda _: scope)
    assert role_keys, "the role makes no SSH key pair any more: update this test"
    for key in role_keys:
        assert not key.startswith((run_path + "/", runs_dir + "/")), f"{key}: inside {runs_dir}"


def _glob(pattern: str) -> re.Pattern[str]:
    """@actions/glob's pattern as a regex over absolute paths (`**` any depth)."""
    parts = re.split(r"(\*\*/?|\*|\?)", pattern.rstrip("/"))
    table = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(table.get(p, re.escape(p)) for p in parts) + "(?:/.*)?")


def _uploaded(step: Mapping[str, Any], workspace: str, files: set[str]) -> set[str]:
    """The files an actions/upload-artifact step uploads: a file matches an include pattern (or
    sits below a matched directory) and no `!` exclude pattern."""
    lines = [ln.strip() for ln in str(step["with"]["path"]).splitlines() if ln.strip()]
    include, exclude = [], []
    for line in lines:
        target = exclude if line.startswith("!") else include
        path = line.lstrip("!")
        target.append(_glob(path if path.startswith("/") else f"{workspace}/{path}"))
    return {
        f
        for f in files
        if any(p.fullmatch(f) for p in include) and not any(p.fullmatch(f) for p in exclude)
    }


def _workflow_uploads() -> Iterator[tuple[str, Mapping[str, Any]]]:
    for path in sorted((REPO / ".github" / "workflows").glob("*.y*ml")):
        for job in (_yaml(path).get("jobs") or {}).values():
            for step in job.get("steps") or []:
                if str(step.get("uses", "")).startswith("actions/upload-artifact@"):
                    yield f"{path.name}: {step.get('name')}", step


def test_github_artifacts_hold_the_reports_and_no_private_key() -> None:
    workspace = "/home/runner/work/dvr-verify/dvr-verify"
    files, keys = _run_tree(workspace)
    steps = list(_workflow_uploads())
    assert steps, "no upload-artifact step found: update this test"
    published = set()
    for where, step in steps:
        uploaded = _uploaded(step, workspace, files)
        assert not uploaded & keys, f"{where} uploads {sorted(uploaded & keys)}"
        published |= uploaded
    assert {posixpath.basename(f) for f in published} >= REPORTS


def _found(args: Mapping[str, Any], scope: Mapping[str, Any], files: set[str]) -> set[str]:
    """The files ansible.builtin.find selects: under `paths` (any depth with recurse), basename
    matching `patterns` and not `excludes`, hidden ones only with `hidden`."""
    roots = args.get("paths") or args.get("path")
    roots = [_resolve(r, scope) for r in ([roots] if isinstance(roots, str) else roots)]
    patterns = args.get("patterns") or ["*"]
    patterns = [patterns] if isinstance(patterns, str) else patterns
    excludes = args.get("excludes") or []
    excludes = [excludes] if isinstance(excludes, str) else excludes
    if args.get("use_regex"):
        match = lambda name, pats: any(re.fullmatch(p, name) for p in pats)  # noqa: E731
    else:
        match = lambda name, pats: any(fnmatch.fnmatch(name, p) for p in pats)  # noqa: E731
    chosen = set()
    for f in files:
        for root in roots:
            rel = posixpath.relpath(f, root)
            if rel.startswith("..") or ("/" in rel and not args.get("recurse")):
                continue
            name = posixpath.basename(f)
            if name.startswith(".") and not args.get("hidden"):
                continue
            if match(name, patterns) and not match(name, excludes):
                chosen.add(f)
    return chosen


def _zuul_playbooks() -> list[Path]:
    paths = []
    for item in _yaml(REPO / ".zuul.yaml"):
        job = item.get("job") or {}
        for key in ("pre-run", "run", "post-run"):
            value = job.get(key) or []
            paths += [REPO / p for p in ([value] if isinstance(value, str) else value)]
    return sorted(set(paths))


def _copied(play: Mapping[str, Any], files: set[str]) -> dict[str, set[str]]:
    """Task name -> the files it copies to the executor (fetch, synchronize, copy): one found
    by a find task when it loops over that find's result, else everything under its src."""
    scope, found, copied = _zuul_scope(play), {}, {}
    for task in _tasks([play]):
        module, args = _module(task)
        if module == "find":
            found[task["register"]] = _found(args, scope, files)
        if module not in ("fetch", "synchronize", "copy") or not isinstance(args, dict):
            continue
        src = str(args.get("src", ""))
        if "item" in src:
            loop = re.fullmatch(r"\{\{\s*(\w+)\.files\s*\}\}", str(task.get("loop", "")).strip())
            assert loop and loop.group(1) in found, f"{task['name']}: loops over what?"
            copied[task["name"]] = found[loop.group(1)]
        else:
            root = _resolve(src, scope).rstrip("/")
            copied[task["name"]] = {f for f in files if f == root or f.startswith(root + "/")}
    return copied


def test_zuul_logs_hold_the_reports_and_no_private_key() -> None:
    files, keys = _run_tree(f"{HOME}/{SRC}")
    published = set()
    for path in _zuul_playbooks():
        for play in _yaml(path):
            for name, copied in _copied(play, files).items():
                assert not copied & keys, f"{path.name}: {name} copies {sorted(copied & keys)}"
                published |= copied
    assert {posixpath.basename(f) for f in published} >= REPORTS


def _reads_a_private_key(task: Mapping[str, Any], key_refs: set[str]) -> bool:
    """Whether the task reads a private key: slurp/fetch/copy of one, or a file lookup of one
    (a key's path as the key-writing tasks spell it, or any id_* / *_ed25519 / *_rsa not .pub)."""
    module, args = _module(task)
    sources = [str(args.get("src", ""))] if module in ("slurp", "fetch", "copy") else []
    text = json.dumps(task)
    sources += re.findall(r"lookup\(\s*'(?:ansible\.builtin\.)?file'\s*,([^)]*)\)", text)
    for source in sources:
        plain = source.replace(" ", "")
        if ".pub" in plain:
            continue
        if any(ref.replace(" ", "") in plain for ref in key_refs) or re.search(
            r"(id_\w+|_ed25519|_rsa)\b", plain
        ):
            return True
    return False


PLAYBOOKS = [
    *sorted(p.relative_to(REPO) for d in ("roles", "playbooks") for p in (REPO / d).rglob("*.yml")),
    Path("verify_dvr.yml"),
]


@pytest.mark.parametrize("path", PLAYBOOKS, ids=str)
def test_no_task_reads_a_private_key_without_no_log(path: Path) -> None:
    tasks = list(_tasks(_yaml(REPO / path)))
    refs = {t for task in tasks if (t := _keygen_target(task))}
    refs |= {"dvr_verify_ssh_key", "dvr_verify_zuul_key"}  # the variables naming the keys
    for task in tasks:
        if _reads_a_private_key(task, refs):
            assert task.get("no_log") is True, f"{path}: {task.get('name')} logs a private key"


def test_the_private_key_check_knows_a_key_read_from_a_public_one() -> None:
    refs = {"{{ dvr_verify_ssh_key }}"}
    read = {"ansible.builtin.slurp": {"src": "{{ dvr_verify_ssh_key }}"}}
    public = {"ansible.builtin.slurp": {"src": "{{ dvr_verify_ssh_key }}.pub"}}
    lookup = {"set_fact": {"k": "{{ lookup('ansible.builtin.file', run ~ '/id_ed25519') }}"}}
    assert _reads_a_private_key(read, refs) and _reads_a_private_key(lookup, refs)
    assert not _reads_a_private_key(public, refs)
