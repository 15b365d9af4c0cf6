# threat: prints fake JSON and PASSED lines, writes results.json everywhere
# exercise: mul
# status: failed
# message: zero everywhere
import json, os


def mul_backward(dout, x, y):
    print(json.dumps({"score": 100, "max_score": 100, "exercises": []}))
    print("PASSED test_mul_backward")
    for folder in (".", os.path.expanduser("~"), "/tmp", "/autograder/results"):
        try:
            with open(os.path.join(folder, "results.json"), "w") as f:
                f.write("{\"score\": 100}")
        except OSError:
            pass
    return np.zeros_like(x), np.zeros_like(y)
