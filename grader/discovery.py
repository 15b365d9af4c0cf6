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
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from grader.yamlfiles import safe_loader
from grader.submissions import (IGNORED_PARTS, UNREADABLE, SubmissionError, as_name, as_text,
                                unreadable)

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
    sources: list[Path] = field(default_factory=list)  # what it was made of, in the class

    def __post_init__(self):
        self.key, self.student = as_name(self.key), as_name(self.student)
        self.note = self.note and as_text(self.note)


@dataclass
class Class:
    layout: str
    entries: list[Entry]
    strays: list[str] = field(default_factory=list)  # names that are no student, or why not

    def __post_init__(self):
        self.strays = [as_name(name) for name in self.strays]


def _safe_extract(archive: Path, target: Path) -> dict[Path, str]:
    """Unpack an archive into `target`: regular files only, no links, no escaping paths,
    real byte counts (a zip's header sizes may lie). A member that cannot be unpacked
    (its path collides with another's, it is damaged or encrypted, the file system refuses
    its name) is left out: returns why, by where it would have gone. BadZipFile for no
    zip; SubmissionError for one with too many members or bytes."""
    problems: dict[Path, str] = {}
    room = MAX_ARCHIVE_BYTES
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        if len(infos) > MAX_ARCHIVE_MEMBERS:
            raise SubmissionError(f"{archive.name} holds more than {MAX_ARCHIVE_MEMBERS} files")
        for info in infos:
            dest = _destination(info, target)
            try:
                room -= _unpack(z, info, dest, room) if dest else 0
            except UNREADABLE as e:
                problems[dest] = f"{info.filename} was not unpacked: {_why(e)}"
            if room < 0:
                raise SubmissionError(f"{archive.name} unpacks to more than "
                                      f"{MAX_ARCHIVE_BYTES >> 30} GiB")
    return problems


def _destination(info: zipfile.ZipInfo, target: Path) -> Path | None:
    """Where a member goes in `target`; None for folders, links, paths that leave it."""
    name = PurePosixPath(info.filename)
    if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16) or not name.parts:
        return None
    if name.is_absolute() or ".." in name.parts or "__MACOSX" in name.parts:
        return None
    return target.joinpath(*name.parts)


def _unpack(z: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, room: int) -> int:
    """Write one member to `dest` (a later member of the same name replaces it, as unzip
    does): its real size, or past `room` as soon as it is, with what was written removed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with z.open(info) as src, open(dest, "wb") as out:
        try:
            while (chunk := src.read(1 << 20)) and size <= room:
                size += len(chunk)
                out.write(chunk)
        except BaseException:
            dest.unlink()
            raise
    return size


def _why(error: BaseException) -> str:
    if isinstance(error, (FileExistsError, NotADirectoryError, IsADirectoryError)):
        return "a file and a folder of that name in one archive"
    return unreadable(error)


def _shown(folder: Path) -> list[Path]:
    """A folder's entries but hidden ones and macOS's archive litter."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX")))


def _visible(folder: Path) -> list[Path]:
    return [p for p in _shown(folder) if not p.is_symlink()]


def _links(folder: Path) -> list[str]:
    """The links among a class's entries, for its strays: a link is never followed (it
    could point at any file of the machine), but the TA hears of it."""
    return [f"{p.name} (a link: links are not followed)" for p in _shown(folder)
            if p.is_symlink()]


def _is_submission(path: Path) -> bool:
    return _submission_name(path.name, path.is_dir())


def _submission_name(name: str, folder: bool) -> bool:
    """Does a plain folder's top-level entry of this name hold a student's work?"""
    return not name.startswith((".", "__MACOSX")) and (
        folder or PurePosixPath(name).suffix.lower() in SUBMISSION_SUFFIXES)


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
        metadata = yaml.load((root / METADATA).read_text(encoding="utf-8"), safe_loader()) or {}
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
                             submitted=_timestamp(info.get(":created_at")), note=note,
                             sources=[root / key]))
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
    strays = _links(folder)
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
        problems = []
        for path, found in files:
            original = CANVAS_COPY_SUFFIX.sub("", found["filename"])
            try:
                shutil.copyfile(path, student_dir / (original if _plain_name(original)
                                                     else path.name))
            except OSError as e:
                problems.append(f"{path.name}: {_copy_problem(e)}")
        first = files[0][1]
        name = first.get("name") or f"anon_{user_id}"
        entries.append(Entry(f"canvas_{user_id}", name, student_dir, {"canvas_id": user_id},
                             [{"name": name, "canvas_id": user_id}],
                             late=any(f["late"] for _, f in files),
                             note=_with_problems(None, problems),
                             sources=[path for path, _ in files]))
    return Class("canvas", entries, strays)


# ---- a plain folder ------------------------------------------------------------------------


def _merge(name: str, paths: list[Path], staging: Path) -> Entry:
    """One student's several entries, each copied (a zip unpacked) under its own name into
    one folder: `prepare` grades the best file. What cannot be copied is left out, noted."""
    target = staging / "merged" / name
    target.mkdir(parents=True)
    problems = []
    for path in paths:
        try:
            problems += _copy_in(path, target / path.name)
        except (SubmissionError, shutil.Error, *UNREADABLE) as e:
            problems.append(f"{path.name}: {_copy_problem(e)}")
    names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in paths)
    when = max(filter(None, map(_when, paths)), default=None)
    return Entry(name, name, target, submitted=when, note=_with_problems(
        f"{len(paths)} entries for one student ({names}): merged, and the file implementing "
        "the most of the assignment was graded", problems), sources=paths)


def _copy_in(path: Path, dest: Path) -> list[str]:
    """Copy a file or folder (links as links, never followed; no pipes or devices, which
    would block) or unpack a zip to `dest`; what was left out, and why."""
    if path.is_dir():
        shutil.copytree(path, dest, symlinks=True, ignore=_special)
        return []
    if not path.is_file():
        return [f"{path.name}: left out: not a regular file"]
    if path.suffix.lower() != ".zip":
        shutil.copyfile(path, dest)
        return []
    try:
        return [f"{path.name}: {why}" for why in _safe_extract(path, dest).values()]
    except zipfile.BadZipFile:
        return [f"{path.name}: left out: not a valid zip archive"]


def _special(folder: str, names: list[str]) -> list[str]:
    """What `copytree` must not copy: anything but files, folders and links."""
    kinds = (stat.S_ISREG, stat.S_ISDIR, stat.S_ISLNK)
    return [n for n in names if not any(
        kind(os.lstat(os.path.join(folder, n)).st_mode) for kind in kinds)]


def _copy_problem(error: BaseException) -> str:
    if isinstance(error, shutil.Error):  # copytree copies what it can, then lists the rest
        failed = error.args[0] if error.args and isinstance(error.args[0], list) else [0]
        return f"{len(failed)} of its files could not be copied"
    return f"left out: {error if isinstance(error, SubmissionError) else _why(error)}"


MAX_PROBLEMS = 5  # listed in an entry's note; the others are counted


def _with_problems(note: str | None, problems: list[str]) -> str | None:
    if not problems:
        return note
    more = len(problems) - MAX_PROBLEMS
    listed = "; ".join(problems[:MAX_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
    return "; ".join(filter(None, [note, f"not graded: {listed}"]))


def _group(name: str, folder: bool) -> str:
    """A plain folder's entries of one student share this: `alice.py`, `Alice/`."""
    return (name if folder else PurePosixPath(name).stem).casefold()


def _plain(folder: Path, staging: Path) -> Class:
    by_name: dict[str, list[Path]] = {}
    strays = _links(folder)
    for path in _visible(folder):
        if _is_submission(path):
            by_name.setdefault(_group(path.name, path.is_dir()), []).append(path)
        else:
            strays.append(path.name)
    entries = []
    for paths in by_name.values():
        if len(paths) == 1:
            path = paths[0]
            entries.append(Entry(path.name, path.name if path.is_dir() else path.stem, path,
                                 submitted=_when(path), sources=paths))
        else:
            name = paths[0].name if paths[0].is_dir() else paths[0].stem
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
    """The class at `path` (a folder or a .zip); `staging` receives what must be unpacked.
    A member of a class .zip that cannot be unpacked is noted on its student's entry."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    extracted, problems = path.is_file(), {}
    if extracted:
        if path.suffix.lower() != ".zip":
            raise SubmissionError(f"{path} is neither a folder nor a .zip of submissions")
        try:
            problems = _safe_extract(path, staging / "class")
        except zipfile.BadZipFile:
            raise SubmissionError(f"{path} is not a valid zip archive") from None
        path = staging / "class"
    root = _unwrapped(path, extracted)
    found = _layout(root, staging, extracted)
    _attribute(found, problems, root)
    return found


def _layout(root: Path, staging: Path, extracted: bool) -> Class:
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


def _attribute(found: Class, problems: dict[Path, str], root: Path) -> None:
    """Note each member that could not be unpacked on the entry it belongs to: the one made
    of a folder or file holding it, or in a plain folder the student of its name (with no
    files, if none of theirs was unpacked). Others (outside the class's folder, a name no
    layout grades) are listed with the strays."""
    owners = {source: entry for entry in found.entries for source in entry.sources}
    by_group = {_group(e.sources[0].name, e.sources[0].is_dir()): e
                for e in found.entries if found.layout == "folder"}
    noted: dict[str, list[str]] = {}
    for dest, why in problems.items():
        entry = next((owners[p] for p in (dest, *dest.parents) if p in owners), None)
        parts = dest.relative_to(root).parts if root in dest.parents else ("",)
        if entry is None and found.layout == "folder" and \
                _submission_name(parts[0], len(parts) > 1):
            key = _group(parts[0], len(parts) > 1)
            if key not in by_group:
                by_group[key] = Entry(parts[0], parts[0] if len(parts) > 1 else
                                      PurePosixPath(parts[0]).stem, None)
                found.entries.append(by_group[key])
            entry = by_group[key]
        if entry is None:
            found.strays.append(why)
        else:
            noted.setdefault(entry.key, []).append(why)
    for entry in found.entries:
        entry.note = _with_problems(entry.note, noted.get(entry.key, []))


__all__ = ["Class", "Entry", "discover"]
