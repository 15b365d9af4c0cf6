"""Course packs: find one, load it, say what it is.

A pack is a folder with a `pack.yaml` (or an installed distribution that names such a folder
in the entry point group `backprop_grader.packs`):

    name: leaky                 # the pack's name, in reports and the gradebook
    version: 1.0.0
    grader: ">=0.1"             # the grader versions it supports
    ops: ops.py                 # its ops (a file of the pack, or an importable module)
    exercises: exercises        # its exercise files (default: exercises/)
    assignment: assignment.yaml # its assignment (default: assignment.yaml)
    template: template/layers.py  # the student's starting file (the notebook is made from it)
    solutions: solutions        # files that must score full marks (default: solutions/)
    buggy: buggy                # files that must lose one exercise with one hint (buggy/)
    conventions: {keep_probability: true}   # what differs between course years

The ops module declares an `OPS = Ops()` table through `grader.authoring`, or a function
`build(conventions) -> Ops` when the pack's conventions change its ops. The lecture itself
is the built-in pack: `exercises/pack.yaml`, whose ops are the `reference` package.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from grader import yamlfiles
from grader.authoring import Ops

PACK_FILE = "pack.yaml"
ENTRY_POINT_GROUP = "backprop_grader.packs"
PACKAGE_DIR = Path(__file__).resolve().parent
FIELDS = {"name", "version", "grader", "ops", "exercises", "assignment", "template",
          "solutions", "buggy", "conventions", "description"}


class PackError(Exception):
    """A pack that cannot be loaded: each line names the pack's file and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(eq=False)  # one object per pack folder (`load` caches), hashed by identity
class Pack:
    """A course pack as loaded: its ops, exercises, assignment and template."""

    name: str
    version: str
    root: Path
    ops: Ops
    spec: dict[str, Any] = field(default_factory=dict)
    ops_source: Path | None = None  # the ops module's file (hidden from submissions)

    def path(self, key: str, default: str) -> Path:
        return (self.root / str(self.spec.get(key, default))).resolve()

    @property
    def exercises_dir(self) -> Path:
        return self.path("exercises", "exercises")

    @property
    def assignment(self) -> Path:
        return self.path("assignment", "assignment.yaml")

    @property
    def template(self) -> Path | None:
        return self.path("template", "") if self.spec.get("template") else None

    @property
    def solutions(self) -> Path:
        return self.path("solutions", "solutions")

    @property
    def buggy(self) -> Path:
        return self.path("buggy", "buggy")

    @property
    def conventions(self) -> dict[str, Any]:
        return dict(self.spec.get("conventions") or {})

    @property
    def staff_paths(self) -> list[Path]:
        """What a submission must never see: the pack's folder and its ops' code."""
        return [self.root] + ([self.ops_source.parent] if self.ops_source else [])

    @functools.cached_property
    def digest(self) -> str:
        return content_hash([self.root] + ([self.ops_source.parent]
                                           if self.ops_source else []))

    def describe(self) -> dict[str, str]:
        """The pack's name, version and content hash, as reports record them."""
        return {"name": self.name, "version": self.version, "hash": self.digest[:12]}


def content_hash(folders: list[Path]) -> str:
    """A digest of every file under the folders (names and bytes), caches left out."""
    digest = hashlib.sha256()
    for folder in dict.fromkeys(folders):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(folder)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def data_dir(name: str) -> Path:
    """A data folder shipped with the grader: inside the wheel, or at the checkout's top."""
    for candidate in (PACKAGE_DIR / "_data" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the grader's {name}/ folder is missing: reinstall backprop-grader")


def doc(name: str) -> str:
    """Where to read one of the grader's docs: installed with it, or in the checkout."""
    try:
        return str(data_dir("docs") / name)
    except FileNotFoundError:
        return f"docs/{name} in the grader's source"


def builtin() -> Pack:
    """The lecture's pack, shipped with the grader."""
    return load(data_dir("exercises"))


def find(location: str | Path) -> Path:
    """A pack's folder from what a user typed: a folder with pack.yaml, its pack.yaml, or
    the name of a pack shipped with the grader (cs231n) or installed by pip."""
    path = Path(location)
    if path.is_file() and path.name == PACK_FILE:
        return path.parent.resolve()
    if (path / PACK_FILE).is_file():
        return path.resolve()
    if path.exists():
        raise PackError([f"{path}: not a course pack (no {PACK_FILE} in it)"])
    installed = {**shipped_packs(), **installed_packs()}
    if str(location) in installed:
        return installed[str(location)]
    known = f"; installed packs: {', '.join(sorted(installed))}" if installed else ""
    raise PackError([f"{location}: no such folder, and no installed pack of that name{known}"])


def shipped_packs() -> dict[str, Path]:
    """The packs that come with the grader (packs/: cs231n), by folder name."""
    try:
        folder = data_dir("packs")
    except FileNotFoundError:
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if (p / PACK_FILE).is_file()}


def installed_packs() -> dict[str, Path]:
    """Packs that pip installed: entry point name -> the folder of the module it names."""
    from importlib.metadata import entry_points

    found = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        spec = importlib.util.find_spec(entry.value.split(":")[0])
        if spec and spec.origin:
            found[entry.name] = Path(spec.origin).resolve().parent
    return found


def of_assignment(assignment: Path) -> Path | None:
    """The pack an assignment file belongs to: pack.yaml beside it or one folder up."""
    folder = Path(assignment).resolve().parent
    for candidate in (folder, folder.parent):
        if (candidate / PACK_FILE).is_file():
            return candidate
    return None


@cache
def load(folder: Path) -> Pack:
    """Read pack.yaml and import the pack's ops (staff code, in the grader's process)."""
    folder = Path(folder).resolve()
    where = folder / PACK_FILE
    try:
        spec = yamlfiles.load(where)
    except (OSError, UnicodeDecodeError, yamlfiles.error()) as e:
        raise PackError([f"{where}: cannot be read: {e}"]) from None
    problems = _spec_problems(spec, where)
    if problems:
        raise PackError(problems)
    ops, source = _load_ops(folder, spec, where)
    return Pack(str(spec["name"]), str(spec["version"]), folder, ops, spec, source)


def _spec_problems(spec: Any, where: Path) -> list[str]:
    if not isinstance(spec, dict):
        return [f"{where}: expected a mapping with name, version and ops"]
    problems = [f"{where}, field {k!r}: unexpected field (known: {', '.join(sorted(FIELDS))})"
                for k in spec if k not in FIELDS]
    problems += [f"{where}, field {k!r}: missing" for k in ("name", "version", "ops")
                 if k not in spec]
    if "name" in spec and not re.fullmatch(r"[a-z][a-z0-9_-]*", str(spec["name"])):
        problems.append(f"{where}, field 'name': {spec['name']!r} must be lowercase letters, "
                        "digits, - and _")
    if "conventions" in spec and not isinstance(spec["conventions"], dict):
        problems.append(f"{where}, field 'conventions': expected a mapping")
    supported = spec.get("grader")
    # the bundled pack came with this grader (or was checked when its autograder was built)
    if supported is not None and where.parent != data_dir("exercises").resolve():
        problem = _version_problem(str(supported))
        if problem:
            problems.append(f"{where}, field 'grader': {problem}")
    return problems


def grader_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("backprop-grader")
    except PackageNotFoundError:
        return "0"


def _as_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def _version_problem(specifier: str) -> str | None:
    """Is this grader inside the pack's supported versions (">=0.1,<2", "==0.1.0")?"""
    mine = _as_tuple(grader_version())
    tests = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
             "<": lambda a, b: a < b, ">": lambda a, b: a > b, "!=": lambda a, b: a != b}
    for part in filter(None, (p.strip() for p in specifier.split(","))):
        match = re.fullmatch(r"(>=|<=|==|!=|<|>)\s*(\d+(?:\.\d+){0,2})", part)
        if not match:
            return f"{part!r} is not a version requirement (write e.g. \">=0.1,<2\")"
        if not tests[match[1]](mine, _as_tuple(match[2])):
            return (f"this pack supports grader versions {specifier}; this grader is "
                    f"{grader_version()}: install a matching backprop-grader")
    return None


def _load_ops(folder: Path, spec: dict, where: Path) -> tuple[Ops, Path | None]:
    target = str(spec["ops"])
    file = folder / target
    added = str(folder) not in sys.path
    try:
        if file.suffix == ".py":
            if not file.is_file():
                raise PackError([f"{where}, field 'ops': no file {target} in the pack"])
            name = "backprop_pack_" + re.sub(r"\W", "_", str(spec["name"]))
            if added:
                sys.path.insert(0, str(folder))  # the ops may import the pack's other files
            module_spec = importlib.util.spec_from_file_location(name, file)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
            file = Path(module.__file__)
    except PackError:
        raise
    except Exception as e:  # staff code: say what broke, where, never a traceback
        raise PackError([f"{where}, field 'ops': importing {target} failed: "
                         f"{type(e).__name__}: {e}{_line_of(e, file)}"]) from None
    finally:
        if added and file.suffix == ".py" and str(folder) in sys.path:
            sys.path.remove(str(folder))
    if hasattr(module, "build"):
        ops = module.build(dict(spec.get("conventions") or {}))
    else:
        ops = getattr(module, "OPS", None)
    if not isinstance(ops, Ops):
        raise PackError([f"{file}: defines no OPS table (OPS = Ops() from grader.authoring, "
                         "or build(conventions) returning one)"])
    return ops, file.resolve()


def _line_of(error: Exception, file: Path) -> str:
    """' (at ops.py line 12)' for the innermost frame of the pack's own file."""
    tb, line = error.__traceback__, None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == file.resolve():
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(error, SyntaxError) and error.lineno:
        line = error.lineno
    return f" (at {file.name} line {line})" if line else ""
