# root: yes
# threat: reads the grader, the exercises, /root and other users, as root would
# exercise: mul
# status: failed
# message: ^(?!.*READ).*FileNotFoundError
import glob, os


def mul_backward(dout, x, y):
    found = []
    for pattern in ("/work/*/exercises/*.yaml", "/root/*", "/home/*",
                    "/usr/lib/python3*/site-packages/grader/*.py", "/autograder/source/*",
                    "/usr/local/lib/python3*/site-packages/grader/*.py",
                    "/root/.pyenv/versions/*/lib/python3*/site-packages/grader/*.py",
                    "/root/.pyenv/versions/*/lib/python3*/site-packages/exercises/*"):
        found += [p for p in glob.glob(pattern) if not p.endswith(".pyenv")]
    for path in found + ["/work/main/exercises/mul.yaml", "/etc/shadow"]:
        try:
            open(path).read(1)
            raise RuntimeError("READ " + path)
        except OSError as e:
            pass
    raise FileNotFoundError("nothing of the grader is visible: " + ", ".join(found))
