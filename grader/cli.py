"""The `backprop` command: a thin Click layer over the grader's functions."""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
from pathlib import Path

if sys.argv[1:2] == ["check"]:
    # One short run that makes almost no reference cycles: the collector would spend
    # 10-25 ms walking what the imports and the plan allocate, to free next to nothing.
    gc.disable()
    # Before numpy and the grader load: the sandboxed child's Python loads meanwhile.
    from grader.sandbox import forkserver
    forkserver.start_early()

import click

from grader.exercises import ExerciseError, load_assignment
from grader.packs import doc
from grader.grading import grade
from grader.submissions import SubmissionError
from grader.reports import render_table, report_json, terminal_safe
from grader.sandbox import ConfinementError, Limits

EXIT_FULL_MARKS, EXIT_NOT_FULL, EXIT_USAGE = 0, 1, 2


class ConfigError(click.ClickException):
    """A broken assignment, exercise or staff file (overrides, extensions, a roster): the
    staff's problem, exit status 2; the message names file and line, and no usage text
    hides it."""

    exit_code = EXIT_USAGE


def echo(message: str = "", **options) -> None:
    """click.echo of text that may hold what students chose (names, prints, messages),
    with what would drive the terminal taken out (`reports.terminal_safe`)."""
    click.echo(terminal_safe(message), **options)


class Unprotected(click.ClickException):
    """The sandbox this machine promises could not be set up: nothing was graded."""

    exit_code = EXIT_USAGE

    def __init__(self, error: Exception):
        super().__init__(f"the grader could not protect this run, so it did not grade it: "
                         f"{error}\nThis is a problem of the machine, not of the submission.")


PACK_HELP = ("A course pack: its folder (with pack.yaml) or the name of an installed pack "
             "[default: the lecture]. Its own assignment is used unless --assignment names "
             "another assignment of that pack.")
pack_option = click.option("--pack", metavar="DIR|NAME", help=PACK_HELP)


def _with_pack(assignment: Path | None, pack: str | None) -> Path | None:
    """The assignment to load: the pack's own, or the one named, which must belong to the
    pack (lie in its folder, or name it with `pack:`)."""
    if pack is None:
        return assignment
    from grader import packs

    try:
        chosen = packs.load(packs.find(pack))
    except packs.PackError as e:
        raise ConfigError(f"the course pack cannot be used:\n{e}") from None
    if assignment is None:
        if not chosen.assignment.is_file():
            raise ConfigError(f"pack {chosen.name!r} has no assignment file "
                              f"{chosen.assignment}: name one with --assignment")
        return chosen.assignment
    owner = _load(assignment, ()).pack
    if owner is not chosen:
        raise ConfigError(f"{assignment} belongs to pack {owner.name!r} ({owner.root}), not "
                          f"to {chosen.name!r}: put it in the pack's folder, or name the "
                          f"pack in it (pack: {chosen.root})")
    return assignment


def _load(assignment: Path | None, only: tuple[str, ...]):
    try:
        loaded = load_assignment(assignment)
        return loaded.only(only) if only else loaded
    except ExerciseError as e:
        raise ConfigError(f"the assignment is invalid:\n{e}") from None
    except KeyError as e:
        raise click.BadParameter(e.args[0], param_hint="--only") from None


SECTIONS = {"For students": ("check", "template", "show", "variant"),
            "For course staff and TAs": ("grade", "export", "validate", "gradescope",
                                         "prairielearn")}


class SectionedGroup(click.Group):
    """`backprop --help` lists the student's commands apart from the staff's."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        commands = {name: self.get_command(ctx, name) for name in self.list_commands(ctx)}
        listed = {name for names in SECTIONS.values() for name in names}
        sections = [*SECTIONS.items(), ("Other", tuple(sorted(set(commands) - listed)))]
        for title, names in sections:
            rows = [(name, commands[name].get_short_help_str(limit=formatter.width - 20))
                    for name in names if name in commands]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.group(cls=SectionedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="backprop-grader")
def main() -> None:
    """Grade backpropagation exercises: gates, layers and graphs in numpy.

    Start with `backprop check backprop.py` to see your score per gate, with hints.
    """


def run() -> None:
    """The `backprop` command (and `python -m grader`). A `check` ends without tearing
    its interpreter down: its output is flushed and every exit handler has run (its fork
    server and its harness copy are gone), and tearing down numpy and the grader's modules
    would add about 30 ms to a command of 0.4 s."""
    if sys.argv[1:2] != ["check"]:
        return main()
    code = 0
    try:
        main()
    except SystemExit as done:
        if done.code is not None and not isinstance(done.code, int):
            raise  # a message for Python to print
        code = done.code or 0
    atexit._run_exitfuncs()  # what a normal exit runs first
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # say, a closed pipe: the status Python's own exit gives then
        code = 120
    os._exit(code)


ALLOW_UNCONFINED_HELP = ("Grade even where the sandbox is incomplete (no Landlock or "
                         "seccomp, no uid to drop to, BACKPROP_CONFINEMENT=unconfined): "
                         "submissions could then read the answers and change other grades, so "
                         "every result says 'advisory: not confined'. Staff only; "
                         "default: refuse to grade.")
allow_unconfined_option = click.option("--allow-unconfined", is_flag=True,
                                       help=ALLOW_UNCONFINED_HELP)
RUN_ALL_HELP = ("Run every notebook cell top to bottom (default: only definitions: imports, "
                "functions, classes, lambdas, and assignments that call nothing but numpy, "
                "math or builtins).")


@main.command()
@click.argument("submission", type=click.Path(path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the random test cases; the same seed gives the same report.")
@click.option("--only", multiple=True, metavar="ID",
              help="Grade only this exercise (repeatable), e.g. --only mul --only relu.")
@click.option("--assignment", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An assignment.yaml other than the default one.")
@pack_option
@click.option("--run-all", is_flag=True, help=RUN_ALL_HELP)
@click.option("--student", metavar="ID", help="Your identity (e.g. your university email) "
              "when the course gives each student their own worked-example numbers; see "
              "`backprop variant`.")
@click.option("--save-cases", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Save the inputs of each failing case to DIR as .npz (arrays named as "
              "your function's arguments), to rerun with check_case() from the template.")
def check(submission: Path, as_json: bool, seed: int, only: tuple[str, ...],
          assignment: Path | None, pack: str | None, run_all: bool, student: str | None,
          save_cases: Path | None) -> None:
    """Grade SUBMISSION: a .py file, a notebook (.ipynb), or a folder or .zip holding
    backprop.py or backprop.ipynb (default: ./backprop.py; with a pack, its template's
    name, e.g. layers.py).

    Exit status: 0 with full marks, 1 otherwise, 2 on a usage or configuration error.
    """
    loaded = _load(_with_pack(assignment, pack), only)
    submission = submission or Path(loaded.student_file)
    try:
        limits = Limits.from_spec(loaded.limits)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{loaded.source}: field 'limits': {e}") from None
    try:
        report = grade(submission, loaded, seed=seed, limits=limits, run_all=run_all,
                       identity=student)
    except SubmissionError as e:
        raise click.UsageError(str(e)) from None
    except ConfinementError as e:
        raise Unprotected(e) from None
    if as_json:
        echo(json.dumps(report_json(report), indent=2))
    else:
        echo(render_table(report, color=sys.stdout.isatty()), nl=False)
    if save_cases is not None:
        _save_cases(report, save_cases)
    sys.exit(EXIT_FULL_MARKS if report.score >= report.max_score else EXIT_NOT_FULL)


def _save_cases(report, folder: Path) -> None:
    """Save the failing cases and say, on stderr (stdout may be JSON), how to rerun one."""
    from grader.reports import save_failing_cases

    try:
        written = save_failing_cases(report, folder)
    except OSError as e:
        raise click.FileError(str(folder), f"cannot save the cases there: {e.strerror}")
    if not written:
        echo(f"no failing case to save in {folder}", err=True)
        return
    echo(f"saved {len(written)} failing case(s) in {folder}:", err=True)
    for path, case in written:
        gate = case.context.gate if case.context else None  # None: not a gate's backward
        rerun = (f'check_case("{path}", {case.call.function}, {gate}_forward)' if gate
                 else f'np.load("{path}")')
        echo(f"  {path.name}: {rerun}", err=True)
    echo("check_case and the *_forward functions are at the end of the template "
               "(`backprop template`).", err=True)


@main.command()
@click.argument("targets", nargs=-1)
@click.option("--pack", "pack_dirs", multiple=True, metavar="DIR|NAME",
              help="Also prove this course pack (like naming its folder as a TARGET).")
def validate(targets: tuple[str, ...], pack_dirs: tuple[str, ...]) -> None:
    """Check exercise files: schema, ops, graphs, shapes, and every number against the
    reference (TARGETS: YAML files, folders or exercise ids; default: the bundled ones).

    A TARGET that is a course pack's folder is proved whole: its imports, each op over
    several seeds (constraints, finite values, central differences, determinism, its
    mistake signatures), its assignment, every solution at full marks and every buggy
    file losing its own exercise with its hint, through the real sandbox.

    Exit status: 0 when everything is valid, 2 otherwise.
    """
    from grader import packs
    from grader.validation import validate as validate_exercises  # not loaded by `check`

    try:
        named = [str(packs.find(p)) for p in pack_dirs]
    except packs.PackError as e:
        raise ConfigError(str(e)) from None
    done = validate_exercises(list(targets) + named)
    for pack in done.packs:
        echo(f"{pack.root}: pack {pack.name!r} {pack.version} ({pack.describe()['hash']}), "
             f"{len(pack.ops)} op(s)")
    for assignment in done.assignments:
        echo(f"{assignment.source}: assignment {assignment.title!r}, "
                   f"{len(assignment.exercises)} exercises, {assignment.max_score:g} points"
                   + (f", late policy due {assignment.late['due']}" if assignment.late else ""))
    for problem in done.problems:
        echo(f"error: {problem}", err=True)
    if done.problems:
        echo(f"{len(done.problems)} problem(s) found.", err=True)
        sys.exit(EXIT_USAGE)
    if not done.exercises:
        echo("nothing to validate: no exercise or assignment file was named", err=True)
        sys.exit(EXIT_USAGE)
    echo(f"{len(done.exercises)} exercise(s) valid: schema, graphs and shapes checked; "
               "expected numbers and reference gradients agree with the numbers.")


@main.command()
@click.argument("exercise")
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "svg", "png"]),
              default="text", show_default=True,
              help="text for the terminal; dot for Graphviz; svg/png need Graphviz's `dot`.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of the terminal (needed for png).")
@click.option("--answers", is_flag=True,
              help="Staff: also draw the gradients of a graded worked example (students "
                   "see only its forward values: the gradients are theirs to compute).")
@pack_option
def show(exercise: str, fmt: str, output: Path | None, answers: bool,
         pack: str | None) -> None:
    """Draw a graph exercise (an id such as simple_graph, or a YAML file) with each wire's
    forward value above its gradient, as in the lecture. For a graded worked example (one
    students answer) only the forward values, unless --answers."""
    from grader import render
    from grader.exercises import load_exercise, load_exercises
    from grader.validation import exercise_files

    if pack is not None:  # an id of the pack's own exercises
        folder = _load(_with_pack(None, pack), ()).pack.exercises_dir
        if (folder / f"{exercise}.yaml").is_file():
            exercise = str(folder / f"{exercise}.yaml")
    _, paths, _ = exercise_files([exercise])
    if not paths or not paths[0].is_file():
        loaded, _ = load_exercises(exercise_files([])[1])  # the bundled ones
        graphs = sorted(ex.id for ex in loaded if ex.kind == "graph")
        raise click.BadParameter(f"no exercise {exercise!r}; graph exercises: "
                                 f"{', '.join(graphs)}", param_hint="EXERCISE")
    try:
        ex = load_exercise(paths[0])
    except ExerciseError as e:
        raise ConfigError(str(e)) from None
    if ex.kind != "graph":
        raise click.UsageError(f"{ex.id} is a {ex.kind} exercise; `show` draws graph "
                               "exercises (simple_graph, sigmoid_neuron, gate_patterns, ...)")
    graph = ex.graph()
    values = graph.forward(ex.graph_inputs())
    graded = "answer" in ex.spec and not answers
    grads = None if graded else graph.backward(values, ex.graph_upstream())
    title = f"{ex.title} ({ex.id})" + (": the gradients are yours to compute (staff: "
                                       "--answers)" if graded else "")
    if fmt == "text":
        data: str | bytes = render.text(graph, values, grads, title)
    else:
        data = render.dot(graph, values, grads, title)
        if fmt in ("svg", "png"):
            try:
                data = render.image(data, fmt)
            except RuntimeError as e:
                raise click.ClickException(str(e)) from None
    if output:
        output.write_bytes(data if isinstance(data, bytes) else data.encode())
        echo(f"wrote {output}")
    elif isinstance(data, bytes) and fmt == "png":
        raise click.UsageError("--format png needs -o FILE")
    else:
        echo(data if isinstance(data, str) else data.decode(), nl=False)


@main.command()
@click.option("--student", metavar="ID", required=True,
              help="Your identity as the course knows it (e.g. your university email).")
@click.option("--assignment", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An assignment.yaml other than the default one.")
@pack_option
def variant(student: str, assignment: Path | None, pack: str | None) -> None:
    """Print your own numbers for the worked examples (graphs with their forward values;
    the gradients are yours to compute). Grading uses the same numbers when the course
    enables variants; check with `backprop check --student ID`."""
    from grader import cases, render

    loaded = _load(_with_pack(assignment, pack), ())
    if loaded.variant_seed is None:
        echo("This assignment uses the lecture's numbers for everyone (no "
                   "policy.variant_seed): see `backprop show simple_graph`.")
        return
    for ex in loaded.exercises:
        if ex.kind != "graph" or "variants" not in ex.spec:
            continue
        drawn = cases.variant_inputs(ex, student, loaded.variant_seed)
        graph = ex.graph()
        values = graph.forward(ex.graph_inputs(drawn))
        numbers = ", ".join(f"{k} = {v:g}" for k, v in drawn.items())
        echo(render.text(graph, values, None, f"{ex.title} ({ex.id}): {numbers}; "
                               f"fill in {ex.spec['answer']}"))


@main.command("grade")
@click.argument("submissions", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder for gradebook.csv, feedback/, results.json and "
                                  "summary.md (and the journal that makes reruns resume).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Parallel workers [default: one per core].")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="One seed for the whole class, for a reproducible run [default: a secret "
                   "drawn on the first run, kept in OUTDIR/.grading-secret and mixed with "
                   "each student's identity, so nobody can know their inputs in advance].")
@click.option("--force", is_flag=True, help="Regrade everything, ignoring the journal.")
@click.option("--only", "only", multiple=True, metavar="STUDENT",
              help="Regrade only this student (a name, file name, sid or email as the "
                   "gradebook shows it; repeatable) and keep everyone else's grade.")
@click.option("--overrides", type=click.Path(dir_okay=False, path_type=Path),
              help="Staff corrections: a CSV with columns student, exercise (an id or "
                   "total), points (7 sets, +2 adjusts), reason [default: "
                   "OUTDIR/overrides.csv when it exists].")
@click.option("--assignment", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An assignment.yaml other than the default one (its `late:` section "
                   "sets the late policy).")
@pack_option
@click.option("--run-all", is_flag=True, help=RUN_ALL_HELP)
@click.option("--release", multiple=True, type=click.Choice(["after_due_date",
                                                             "after_published"]),
              help="Show the exercises of this visibility in feedback/ (repeatable), e.g. "
                   "once the due date has passed; nothing is graded again, and later runs "
                   "keep showing them. Hidden exercises are never shown.")
@click.option("--group-readable", is_flag=True,
              help="Let your group read OUTDIR (folders 0750, files 0640) [default: only "
                   "you: 0700 and 0600]. The grading secret stays yours only.")
@allow_unconfined_option
def grade_class(submissions: Path, outdir: Path, jobs: int | None, seed: int | None,
                force: bool, only: tuple[str, ...], overrides: Path | None,
                assignment: Path | None, pack: str | None, run_all: bool,
                release: tuple[str, ...], group_readable: bool,
                allow_unconfined: bool) -> None:
    """Grade a whole class: SUBMISSIONS is a folder with one entry per student (a .py,
    .ipynb, folder or .zip), a Gradescope "Export Submissions" zip or folder, or a Canvas
    "Download Submissions" zip or folder.

    Writes OUTDIR/gradebook.csv (raw score, late penalty, total), feedback/, summary.md,
    results.json, logs/ (what each submission printed) and grading.log, readable by you
    only. Interrupted (Ctrl-C, SIGTERM, or killed)? Run the same command again: finished
    submissions are not regraded, nor are they when only `late:` or overrides change.
    One `grade` at a time per OUTDIR. Then `backprop export OUTDIR --to
    canvas|gradescope` makes the file to upload.
    """
    from grader.batch import Busy, Interrupted, Terminated, run_batch, sigterm_like_ctrl_c
    from grader.summary import to_look_at
    from grader.gradebook import GradebookError

    assignment = _with_pack(assignment, pack)
    _load(assignment, ())  # a broken assignment is reported before any work starts
    try:
        with sigterm_like_ctrl_c():
            result = run_batch(submissions, outdir, assignment, seed, jobs, force, run_all,
                               only, overrides=overrides, allow_unconfined=allow_unconfined,
                               release=release, group=group_readable)
    except (SubmissionError, GradebookError, Busy) as e:
        raise ConfigError(str(e)) from None
    except ConfinementError as e:
        raise Unprotected(e) from None
    except Interrupted as e:
        echo(f"\n{e}", err=True)
        sys.exit(128 + e.signum)
    except KeyboardInterrupt as e:  # before grading began, or while writing the outputs
        echo("\ninterrupted; the journal keeps every finished grade: run the same "
                   "command again to finish", err=True)
        sys.exit(143 if isinstance(e, Terminated) else 130)
    echo(f"{len(result.records)} submissions ({result.layout} layout): "
               f"{result.graded} graded now, {result.reused} already in the journal.")
    if result.strays:
        echo(f"not submissions, not graded: {', '.join(result.strays)}")
    for warning in result.warnings:
        echo(f"warning: no student matches {warning}", err=True)
    for line in result.overview:
        echo(line)
    if incidents := to_look_at(result.records):
        echo(f"to look at (named in summary.md): {incidents}")
    if earlier := [v for v in result.released if v not in release]:
        echo(f"feedback still shows the {' and '.join(earlier)} exercises: an earlier "
             "--release showed them, and a release is not taken back")
    if result.retried:
        echo(f"a grading worker died (out of memory?): the {len(result.retried)} "
             f"submission(s) it left unfinished were graded by a fresh one: "
             f"{', '.join(result.retried)}", err=True)
    if result.records:
        echo(f"wrote {outdir / 'gradebook.csv'}, {outdir / 'summary.md'}, "
                   f"{outdir / 'feedback'}/ and {outdir / 'results.json'}")
    if result.failed:
        echo(f"{len(result.failed)} submission(s) could NOT be graded (the grader "
                   f"failed; see {outdir / 'grading.log'}): run the same command again to "
                   "retry them.", err=True)
        sys.exit(1)


@main.command("export", epilog=f"\b\nThe columns of each file, and their sources:\n"
                                f"{doc('export.md')}")
@click.argument("outdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--to", "target", type=click.Choice(["canvas", "gradescope"]), required=True,
              help="canvas: Gradebook > Import; gradescope: an assignment's score upload.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The CSV file to write.")
@click.option("--column", metavar="NAME",
              help="Canvas: the assignment column, e.g. 'Homework 3 (123456)' to fill an "
                   "existing assignment [default: the assignment's title, which creates one].")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE",
              help="The LMS's own list of students to join the class to (needed for a plain "
                   "folder, which has no LMS ids): Canvas's gradebook export, Gradescope's "
                   "roster or grades download, or a CSV with columns name, email, login, id "
                   "or sid. Matched by id, email or login, else by a name unique on both "
                   "sides; each row then carries the LMS's own ids.")
def export(outdir: Path, target: str, output: Path, column: str | None,
           roster: Path | None) -> None:
    """Write the gradebook of a graded class (OUTDIR of `backprop grade`) as the CSV that
    Canvas or Gradescope imports: one row per student, final scores (late penalties and
    overrides applied), a group's score for each member.

    Exit status: 0 when every student of the class has a row; 1 when some are left out
    (they are listed: enter those grades by hand, or use --roster; one the grader failed
    on has no grade yet: grade again); 2 on a usage error.
    """
    from grader.gradebook import Grade, GradebookError, export_rows, read_roster, write_csv

    try:
        data = json.loads((outdir / "results.json").read_text(encoding="utf-8"))
        records = data["students"]
        grades = {r["key"]: Grade(**r["grade"]) for r in records}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise click.UsageError(f"{outdir} holds no graded class ({e}); run `backprop grade "
                               f"... -o {outdir}` first") from None
    try:
        people = read_roster(roster) if roster else None
    except GradebookError as e:
        raise ConfigError(str(e)) from None
    made = export_rows(records, grades, target, column or data["assignment"], people)
    write_csv(output, made.header, made.rows)
    echo(f"wrote {output}: {len(made.rows)} row(s) for {target}")
    if made.absent:
        echo(f"in the roster but not graded (no row: the LMS keeps what it has), "
                   f"{len(made.absent)}: {'; '.join(made.absent)}", err=True)
    for line in made.left_out:
        echo(f"left out: {line}", err=True)
    if made.rowless:
        echo(f"{made.rowless} student(s) have no row in {output}: enter their grades by "
             "hand" + ("" if roster else ", or join the class to the LMS's roster with "
                       "--roster FILE"), err=True)
        sys.exit(EXIT_NOT_FULL)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@pack_option
def template(directory: Path, force: bool, pack: str | None) -> None:
    """Write the student's starting files (backprop.py and backprop.ipynb, or a course
    pack's file, e.g. layers.py, and its notebook) into DIRECTORY (default: the current
    folder)."""
    from grader.template import write_template

    loaded = _load(_with_pack(None, pack), ()) if pack else None
    if loaded is not None and loaded.pack.template is None:
        raise ConfigError(f"pack {loaded.pack.name!r} names no student template "
                          "(template: in its pack.yaml)")
    try:
        written = write_template(directory, force, loaded, pack)
    except FileExistsError as e:
        raise click.UsageError(f"{e} already exist(s); use --force to overwrite") from None
    for path in written:
        echo(f"wrote {path}")
    echo("Next: implement the functions, then run `backprop check "
         f"{written[0]}{f' --pack {pack}' if pack else ''}` (or check() inside the notebook).")


@main.group(epilog=f"\b\nHow to set it up, and to try the zip on your machine:\n"
                  f"{doc('platforms.md')}")
def gradescope() -> None:
    """Ship the assignment to Gradescope: build the autograder zip, or run as its
    entrypoint (what `run_autograder` calls inside the container)."""


@gradescope.command("build")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default="autograder.zip", show_default=True, help="Where to write the zip.")
@click.option("--assignment", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An assignment.yaml other than the default one (its folder is shipped).")
@pack_option
@click.option("--secret", help="The secret grading seed [default: a fresh random one]. "
                               "Rebuilding with the same secret keeps every student's inputs.")
def gradescope_build(output: Path, assignment: Path | None, pack: str | None,
                     secret: str | None) -> None:
    """Write the autograder zip to upload on Gradescope (setup.sh and run_autograder at
    its root, the grader and the assignment inside)."""
    from grader.platforms import build_gradescope

    assignment = _with_pack(assignment, pack)
    _load(assignment, ())
    path, secret = build_gradescope(output, assignment, secret)
    echo(f"wrote {path} (secret grading seed {secret}; keep it to rebuild with the "
               "same inputs per student)")


def _refusal_exits(entrypoint, root: Path, **options) -> dict:
    from grader.platforms import GradingRefused

    try:
        return entrypoint(root, **options)
    except GradingRefused as e:
        echo(f"refused to grade: {e}", err=True)
        sys.exit(1)


@gradescope.command("run")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path),
              default="/autograder", show_default=True)
@allow_unconfined_option
def gradescope_run(root: Path, allow_unconfined: bool) -> None:
    """Grade ROOT/submission and write ROOT/results/results.json (always). Exit 0, or 1
    when the grader could not protect the run and wrote an internal-error result."""
    from grader.platforms import run_gradescope

    results = _refusal_exits(run_gradescope, root, allow_unconfined=allow_unconfined)
    echo(f"score {results.get('score', 0):g}; wrote {root / 'results' / 'results.json'}")


@main.group(epilog=f"\b\nHow to set it up:\n{doc('platforms.md')}")
def prairielearn() -> None:
    """Run as a PrairieLearn external grader."""


@prairielearn.command("build")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default="serverFilesCourse/backprop/grading.json", show_default=True,
              help="Where to write the secret (inside the course's serverFilesCourse).")
@click.option("--secret", help="The secret grading seed [default: a fresh random one].")
def prairielearn_build(output: Path, secret: str | None) -> None:
    """Write the course's secret grading seed for the external grader. List its folder
    in the question's `externalGradingOptions.serverFilesCourse`; without it, `prairielearn
    run` refuses to grade (students could otherwise precompute the public inputs)."""
    from grader.grading import write_secret

    if output.exists() and not secret:
        raise click.UsageError(f"{output} exists: keep it (changing it changes every "
                               "student's inputs), or pass --secret to overwrite it")
    write_secret(output, secret)
    echo(f"wrote {output}; keep it out of anything students can see")


@prairielearn.command("run")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default="/grade",
              show_default=True)
@click.option("--assignment", type=click.Path(dir_okay=False, path_type=Path),
              help="The course's assignment.yaml, e.g. "
                   "/grade/serverFilesCourse/backprop/assignment.yaml [default: the bundled "
                   "one]. A missing or broken one is reported as an internal error.")
@pack_option
@allow_unconfined_option
def prairielearn_run(root: Path, assignment: Path | None, pack: str | None,
                     allow_unconfined: bool) -> None:
    """Grade ROOT/student and write ROOT/results/results.json. Exit 0, or 1 when the
    grader could not protect the run (PrairieLearn then counts no attempt)."""
    from grader.platforms import run_prairielearn

    results = _refusal_exits(run_prairielearn, root, assignment=_with_pack(assignment, pack),
                             allow_unconfined=allow_unconfined)
    echo(f"gradable {results.get('gradable')}, score {results.get('score', 0):g}")


if __name__ == "__main__":
    main()
