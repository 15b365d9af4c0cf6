"""The verdict cannot be faked from inside the submission: it is computed in the parent
from raw arrays, never from anything the student's code can patch, print or pickle."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from conftest import check_json, compose, run_cli, scores
from grader.sandbox.child import wire

ZEROS = """
def mul_backward(dout, x, y):
    return np.zeros_like(x), np.zeros_like(y)
"""


def lost(report):
    return sorted(k for k, (s, m) in scores(report).items() if s != m)


def test_patching_numpy_checkers_changes_nothing(tmp_path):
    source = """
import numpy.testing, unittest, builtins, math
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
unittest.TestCase.assertEqual = lambda *a, **k: None
math.isclose = lambda *a, **k: True
builtins.abs = lambda x: 0
""" + ZEROS
    report, code = check_json(compose(tmp_path, source))
    assert code == 1 and lost(report) == ["mul"]
    assert scores(report)["mul"][0] < 2


def test_printed_fake_results_and_result_files_are_ignored(tmp_path):
    source = """
import json, os
print(json.dumps({"score": 100, "max_score": 100, "exercises": []}))
print("PASSED test_mul_backward\\nAll tests passed!")
for d in (".", os.path.expanduser("~"), "/tmp"):
    try:
        open(os.path.join(d, "results.json"), "w").write('{"score": 100}')
    except OSError:
        pass
""" + ZEROS
    result = run_cli("check", compose(tmp_path, source), "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and lost(report) == ["mul"]


def test_pickle_payloads_never_run_in_the_parent(tmp_path):
    marker = tmp_path / "pwned"
    source = f"""
import os
class Evil:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))
def mul_backward(dout, x, y):
    return Evil(), Evil()
"""
    report, _ = check_json(compose(tmp_path, source), "--only", "mul")
    assert not marker.exists()
    assert report["exercises"][0]["score"] == 0
    assert "dx is a Evil; expected a numpy array" in report["exercises"][0]["hints"]


@pytest.mark.parametrize("body, hint", [
    ("class L(np.ndarray):\n    def __array_ufunc__(self, *a, **k): return np.True_\n"
     "    def __eq__(self, o): return True\n"
     "def mul_backward(dout, x, y):\n    return np.zeros(x.shape).view(L), np.zeros(y.shape).view(L)",
     "zero everywhere"),
    ("def mul_backward(dout, x, y):\n"
     "    return np.ma.masked_all(x.shape), np.ma.masked_all(y.shape)", "dx is wrong at"),
    ("def mul_backward(dout, x, y):\n    return 'dx', None", "dx is a str"),
    ("def mul_backward(dout, x, y):\n    return {'dx': 1}, {'dy': 2}", "dx is a dict"),
    ("def mul_backward(dout, x, y):\n    return np.array([object()]), dout", "dx is a ndarray"),
    ("def mul_backward(dout, x, y):\n    return dout * y + 0j, dout * x", "dtype complex128"),
    ("def mul_backward(dout, x, y):\n    return dout * y * np.nan, dout * x", "nan"),
    ("def mul_backward(dout, x, y):\n    return 0.0, 0.0", "dx has shape ()"),
    ("def mul_backward(dout, x, y):\n    return dout * y", "returned a single value"),
    ("def mul_backward(dout, x, y):\n    return dout * y, dout * x, dout", "returned 3 values"),
])
def test_cheating_and_odd_return_values_fail_with_a_message(tmp_path, body, hint):
    report, _ = check_json(compose(tmp_path, body), "--only", "mul")
    (mul,) = report["exercises"]
    assert mul["score"] < mul["max_score"] / 2
    assert any(hint in h for h in mul["hints"]), mul["hints"]


def test_mutating_the_inputs_cannot_move_the_goalposts(tmp_path):
    source = """
def mul_backward(dout, x, y):
    dout[...] = 0; x[...] = 0; y[...] = 0
    return np.zeros_like(x), np.zeros_like(y)
"""
    report, _ = check_json(compose(tmp_path, source), "--only", "mul")
    assert report["exercises"][0]["score"] < 2


def test_patched_rng_and_shadowing_files_are_irrelevant(tmp_path):
    (tmp_path / "numpy.py").write_text("allclose = lambda *a, **k: True\n")
    source = "np.random.randn = lambda *s: np.zeros(s)\nnp.random.default_rng = None\n" + ZEROS
    report, _ = check_json(compose(tmp_path, source))
    assert lost(report) == ["mul"]


def _npy_header(shape, dtype="<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def test_forged_npy_headers_are_rejected_before_allocating():
    with pytest.raises(wire.WireError, match="header says"):
        wire.decode_array(_npy_header((50000, 50000)) + b"\0" * 64, 1 << 20)
    with pytest.raises(wire.WireError, match="not a plain numeric"):
        wire.decode_array(_npy_header((1,), "|O") + b"\0" * 8, 1 << 20)
    with pytest.raises(wire.WireError, match="limit"):
        wire.decode_array(wire.encode_array(np.zeros(1000)), 100)
    roundtrip = wire.decode_array(wire.encode_array(np.arange(6.0).reshape(2, 3).T), 1 << 20)
    assert roundtrip.tolist() == [[0, 3], [1, 4], [2, 5]]
    assert wire.decode_array(wire.encode_array(np.float64(2.5)), 1 << 20).shape == ()


@pytest.mark.parametrize("array", [
    np.float64(-0.0), np.arange(6.0).reshape(2, 3).T, np.zeros((0, 3)), np.array(True),
    np.arange(5, dtype=">i4"), np.ones((2, 1, 3), dtype=np.float32), np.arange(10)[::3],
    np.zeros(2, dtype=np.clongdouble), np.zeros(2, dtype=[("a", "<f8")])])
def test_arrays_travel_as_numpy_itself_writes_them(array):
    """The wire's own .npy writer (numpy's costs tens of microseconds an array) gives
    numpy's bytes, which numpy and the wire read back as the array sent."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array(array, copy=True, order="C"), allow_pickle=False)
    assert wire.encode_array(array) == buf.getvalue()
    back = np.load(io.BytesIO(wire.encode_array(array)))
    assert back.dtype == array.dtype and back.shape == np.shape(array)
    assert back.tobytes() == np.ascontiguousarray(array).tobytes()


def test_frames_need_the_nonce_and_respect_the_caps():
    nonce = b"n" * wire.NONCE_BYTES
    frame = wire.encode_frame(nonce, {"type": "import", "ok": True})
    assert wire.FrameReader(nonce, 1 << 20).feed(frame) == [({"type": "import", "ok": True}, [])]
    with pytest.raises(wire.WireError, match="nonce"):
        wire.FrameReader(b"x" * wire.NONCE_BYTES, 1 << 20).feed(frame)
    with pytest.raises(wire.WireError, match="start with a frame"):
        wire.FrameReader(nonce, 1 << 20).feed(b'{"score": 100}')
    huge = wire.MAGIC + nonce + struct.pack("<I", 2) + b"{}" + struct.pack("<I", 1) + \
        struct.pack("<Q", 1 << 40)
    with pytest.raises(wire.WireError, match="larger than"):
        wire.FrameReader(nonce, 1 << 20).feed(huge)
    reader = wire.FrameReader(nonce, 1 << 20)
    assert reader.feed(frame[:10]) == [] and len(reader.feed(frame[10:])) == 1
