"""A class folder or archive, turned into one entry per student.

Layouts, decided by the class folder's own top level only (never by what a student
handed in):

- **Gradescope** "Export Submissions": `submission_metadata.yml` at the top (or in the
  export's single wrapper folder, `assignment_<id>_export/`); one folder per submission,
  named by the metadata's keys, which must be plain folder names of the export itself.
- **Canvas** "Download Submissions": most top-level files named as Canvas names them;
  names, ids and late flags are parsed from the file names, a student's files are grouped.
- **Folder**: one entry per student — a `.py`, `.ipynb`, `.zip` or folder. The entries of
  one name (`alice.py`, `alice.ipynb`, `alice/`) are one student: merged, and the file that
  implements the most of the assignment is graded.

Anything else at the top level (a `grading_notes.txt`, a file Canvas did not name) is a
stray: listed apart, never graded as a student.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from grader.exercises import SAFE_LOADER
from grader.submissions import IGNORED_PARTS, SubmissionError

MAX_ARCHIVE_BYTES = 4 << 30
MAX_ARCHIVE_MEMBERS = 50_000
SUBMISSION_SUFFIXES = (".py", ".ipynb", ".zip")
METADATA = "submission_metadata.yml"
CANVAS_PATTERNS = [
    re.compile(r"^(?:LATE_)?anon_(?P<user_id>[A-Za-z0-9]+)_(?P<attachment_id>\d+)_"
               r"(?P<filename>.+)$"),
    re.compile(r"^(?P<name>.+?)_(?:LATE_)?(?P<user_id>\d+)_(?P<attachment_id>\d+)_"
               r"(?P<filename>.+)$"),
]
CANVAS_COPY_SUFFIX = re.compile(r"-\d+(?=\.[A-Za-z0-9]+$)")  # hw1-1.py was hw1.py



@dataclass
class Entry:
    """One student's (or one group's) submission, wherever it came from."""

    key: str  # stable inside the class: the journal's key
    student: str
    path: Path | None  # a file or folder that `submissions.prepare` accepts; None: no files
    ids: dict[str, str] = field(default_factory=dict)
    members: list[dict[str, str]] = field(default_factory=list)  # a group's students
    late: bool | None = None  # the platform's own flag (Canvas)
    submitted: str | None = None  # ISO 8601 submission time, when the layout gives one
    note: str | None = None


@dataclass
class Class:
    layout: str
    entries: list[Entry]
    strays: list[str] = field(default_factory=list)  # top-level names that are no student


def _safe_extract(archive: Path, target: Path) -> Path:
    """Extract a class archive: regular files only, no links, no escaping paths, real byte
    counts (a zip's header sizes may lie)."""
    total = 0
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        if len(infos) > MAX_ARCHIVE_MEMBERS:
            raise SubmissionError(f"{archive.name} holds more than {MAX_ARCHIVE_MEMBERS} files")
        for info in infos:
            name = PurePosixPath(info.filename)
            if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
                continue
            if name.is_absolute() or ".." in name.parts or "__MACOSX" in name.parts:
                continue
            dest = target.joinpath(*name.parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):
                    total += len(chunk)
                    if total > MAX_ARCHIVE_BYTES:
                        raise SubmissionError(f"{archive.name} unpacks to more than "
                                              f"{MAX_ARCHIVE_BYTES >> 30} GiB")
                    out.write(chunk)
    return target


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if not p.name.startswith((".", "__MACOSX")) and not p.is_symlink())


def _is_submission(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in SUBMISSION_SUFFIXES


def _when(path: Path) -> str | None:
    """The newest modification time of a file or of a folder's own files (the folder
    layout's only clue to when it was handed in): not of what running or browsing it
    writes later (`__pycache__`, `.ipynb_checkpoints`, `.DS_Store`); None without files."""
    files = [path] if path.is_file() else [
        p for p in path.rglob("*") if p.is_file() and not any(
            part in IGNORED_PARTS or part.startswith(".") for part in p.relative_to(path).parts)]
    newest = max((p.stat().st_mtime for p in files), default=None)
    return None if newest is None else \
        dt.datetime.fromtimestamp(newest, dt.timezone.utc).isoformat()


# ---- Gradescope ----------------------------------------------------------------------------


def _plain_name(key: str) -> bool:
    return bool(key) and key not in (".", "..") and "/" not in key and "\\" not in key


def _timestamp(value) -> str | None:
    """`:created_at:` as ISO 8601 (YAML may have made it a datetime already)."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).isoformat()
    if isinstance(value, str):
        text = re.sub(r"(\.\d{6})\d*", r"\1", value.strip()).replace(" Z", "+00:00")
        try:
            return dt.datetime.fromisoformat(text).isoformat()
        except ValueError:
            return None
    return None


def _gradescope(root: Path) -> Class:
    try:
        metadata = yaml.load((root / METADATA).read_text(encoding="utf-8"), SAFE_LOADER) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise SubmissionError(f"{root / METADATA} is not valid YAML: {e}") from None
    if not isinstance(metadata, dict):
        raise SubmissionError(f"{root / METADATA} is not a mapping of submissions")
    folders = {p.name for p in _visible(root)}
    entries = []
    for key, info in sorted(metadata.items(), key=lambda item: str(item[0])):
        key, info = str(key), info if isinstance(info, dict) else {}
        people = [p for p in info.get(":submitters") or [] if isinstance(p, dict)]
        members = [{f: str(p.get(f":{f}") or "") for f in ("name", "sid", "email")}
                   for p in people]
        ids = {"gradescope_id": key.removeprefix("submission_")}
        for name in ("sid", "email"):
            if any(m[name] for m in members):
                ids[name] = ";".join(m[name] for m in members if m[name])
        student = " & ".join(m["name"] for m in members if m["name"]) or key
        found = _plain_name(key) and key in folders
        note = None if found else (
            "listed in submission_metadata.yml but no files" if _plain_name(key) else
            f"its key {key!r} is not a folder name of this export: not graded")
        entries.append(Entry(key, student, root / key if found else None, ids, members,
                             submitted=_timestamp(info.get(":created_at")), note=note))
    strays = sorted(name for name in folders if name not in metadata and name != METADATA)
    return Class("gradescope", entries, strays)


# ---- Canvas --------------------------------------------------------------------------------


def _canvas_match(name: str) -> dict | None:
    for pattern in CANVAS_PATTERNS:
        m = pattern.match(name)
        if m:
            found = m.groupdict()
            found["late"] = "_LATE_" in name or name.startswith("LATE_")
            return found
    return None


def _canvas(folder: Path, staging: Path) -> Class:
    """Group a Canvas download's files by student into one folder each."""
    groups: dict[str, list[tuple[Path, dict]]] = {}
    strays = []
    for path in _visible(folder):
        found = _canvas_match(path.name) if path.is_file() else None
        if found is None:
            strays.append(path.name)
        else:
            groups.setdefault(found["user_id"], []).append((path, found))
    entries = []
    for user_id, files in sorted(groups.items()):
        student_dir = staging / f"canvas_{user_id}"
        student_dir.mkdir(parents=True)
        for path, found in files:
            original = CANVAS_COPY_SUFFIX.sub("", found["filename"])
            shutil.copyfile(path, student_dir / original)
        first = files[0][1]
        name = first.get("name") or f"anon_{user_id}"
        entries.append(Entry(f"canvas_{user_id}", name, student_dir, {"canvas_id": user_id},
                             [{"name": name, "canvas_id": user_id}],
                             late=any(f["late"] for _, f in files)))
    return Class("canvas", entries, strays)


# ---- a plain folder ------------------------------------------------------------------------


def _merge(name: str, paths: list[Path], staging: Path) -> Entry:
    """One student's several entries, in one folder: `prepare` grades the best file."""
    target = staging / "merged" / name
    target.mkdir(parents=True)
    for path in paths:
        if path.is_dir():
            shutil.copytree(path, target / path.name, symlinks=True)
        elif path.suffix.lower() == ".zip":
            try:
                _safe_extract(path, target / path.stem)
            except zipfile.BadZipFile:
                pass  # the other entries still count
        else:
            shutil.copyfile(path, target / path.name)
    names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in paths)
    when = max(filter(None, map(_when, paths)), default=None)
    return Entry(name, name, target, submitted=when,
                 note=f"{len(paths)} entries for one student ({names}): merged, and the file "
                      "implementing the most of the assignment was graded")


def _plain(folder: Path, staging: Path) -> Class:
    by_name: dict[str, list[Path]] = {}
    strays = []
    for path in _visible(folder):
        if _is_submission(path):
            stem = path.name if path.is_dir() else path.stem
            by_name.setdefault(stem.casefold(), []).append(path)
        else:
            strays.append(path.name)
    entries = []
    for paths in by_name.values():
        if len(paths) == 1:
            path = paths[0]
            entries.append(Entry(path.name, path.stem if path.is_file() else path.name, path,
                                 submitted=_when(path)))
        else:
            name = paths[0].stem if paths[0].is_file() else paths[0].name
            entries.append(_merge(name, paths, staging))
    return Class("folder", entries, strays)


# ---- the layout ----------------------------------------------------------------------------


def _unwrapped(folder: Path, extracted: bool) -> Path:
    """An export's single wrapper folder (`assignment_9100_export/`, or the one folder of a
    class zip) holds the class; a student's folder never does."""
    shown = _visible(folder)
    if (folder / METADATA).is_file() or len(shown) != 1 or not shown[0].is_dir():
        return folder
    inner = shown[0]
    return inner if extracted or (inner / METADATA).is_file() else folder


def discover(path: Path, staging: Path) -> Class:
    """The class at `path` (a folder or a .zip); `staging` receives what must be unpacked."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    extracted = path.is_file()
    if extracted:
        if path.suffix.lower() != ".zip":
            raise SubmissionError(f"{path} is neither a folder nor a .zip of submissions")
        try:
            path = _safe_extract(path, staging / "class")
        except zipfile.BadZipFile:
            raise SubmissionError(f"{path} is not a valid zip archive") from None
    root = _unwrapped(path, extracted)
    if (root / METADATA).is_file():
        return _gradescope(root)
    files = [p for p in _visible(root) if p.is_file()]
    if files and sum(_canvas_match(p.name) is not None for p in files) >= len(files) / 2:
        return _canvas(root, staging / "canvas")  # Canvas gives no time, only LATE flags
    found = _plain(root, staging)
    if extracted:  # unpacked just now: the files' times are this run's, not the students'
        for entry in found.entries:
            entry.submitted = None
    return found


__all__ = ["Class", "Entry", "discover"]
