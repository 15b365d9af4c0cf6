"""backprop-grader: grade backpropagation exercises written in numpy.

`check()` grades the functions of the running notebook from inside Jupyter.
"""


PACK: list[str] = []  # the course pack this notebook checks against (`use_pack`)


def use_pack(pack: str) -> None:
    """Check this notebook against a course pack (its name, e.g. "cs231n", or folder)."""
    PACK[:] = [pack]


def check(*exercise_ids: str, seed: int = 0, run_all: bool = False, student: str | None = None,
          pack: str | None = None):
    """Grade this notebook's functions (all exercises, or the ones named) and show a table.
    run_all=True runs every executed cell; student="your id" uses your own worked-example
    numbers when the course has them; pack= a course pack (default: `use_pack`'s, or the
    lecture)."""
    from grader.jupyter import check as run_check  # keep `import grader` light

    return run_check(*exercise_ids, seed=seed, run_all=run_all, student=student,
                     pack=pack or (PACK[0] if PACK else None))


__all__ = ["check", "use_pack"]
