"""Every byte from the child is untrusted input: whatever arrives, the grader's decoders
return plain numeric arrays or raise WireError (a `bad_result` verdict), nothing else."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.sandbox.child import wire
from grader.sandbox.runner import _decode_result

NONCE = b"n" * wire.NONCE_BYTES
DESCRS = st.one_of(st.sampled_from(["<f3", "<f8", "|b1", "<c16", "|O", "<U5", "V8", "<M8",
                                    "<f16", "i9", ">i4", "<f0", "S0", "[('a', '<f8')]"]),
                   st.text(max_size=12))
SHAPES = st.one_of(st.lists(st.integers(-3, 1 << 40), max_size=80).map(tuple),
                   st.text(max_size=20))


def npy(descr, fortran, shape, payload: bytes, version=(1, 0)) -> bytes:
    head = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    head = head.encode("latin1", "replace")
    head += b" " * (-(len(head) + 11) % 64) + b"\n"
    size = struct.pack("<H", len(head)) if version == (1, 0) else struct.pack("<I", len(head))
    return b"\x93NUMPY" + bytes(version) + size + head + payload


def decodes_safely(blob: bytes) -> None:
    try:
        array = wire.decode_array(blob, 1 << 20)
    except wire.WireError:
        return
    assert type(array) is np.ndarray and array.dtype.kind in wire.ALLOWED_KINDS
    assert array.nbytes <= 1 << 20


@settings(max_examples=400, deadline=None)
@given(DESCRS, st.sampled_from([True, False, "x"]), SHAPES, st.binary(max_size=256),
       st.sampled_from([(1, 0), (2, 0), (3, 0)]))
def test_any_npy_header_is_decoded_or_refused(descr, fortran, shape, payload, version):
    decodes_safely(npy(descr, fortran, shape, payload, version))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_are_decoded_or_refused(blob):
    decodes_safely(blob)
    decodes_safely(b"\x93NUMPY\x01\x00" + blob)


def test_the_headers_that_broke_the_grader_are_refused():
    for blob in (npy("<f3", False, (2,), b"\0" * 6), npy("<f8", False, (1,) * 70, b"\0" * 8)):
        try:
            wire.decode_array(blob, 1 << 20)
        except wire.WireError:
            continue
        raise AssertionError("accepted")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_any_stream_is_framed_or_refused(chunks):
    reader = wire.FrameReader(NONCE, 1 << 16)
    stream = wire.MAGIC + NONCE + b"".join(chunks)
    try:
        for header, blobs in reader.feed(stream):
            assert isinstance(header, dict) and all(isinstance(b, bytes) for b in blobs)
    except wire.WireError:
        pass


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
HEADERS = st.fixed_dictionaries(
    {"status": st.sampled_from(["ok", "raised", "missing", "other"]) | JSON},
    optional={"output": st.fixed_dictionaries({}, optional={
        "container": JSON, "items": JSON, "keys": JSON, "blob": JSON, "bad": JSON}) | JSON,
        "args_after": JSON, "error": JSON, "seconds": JSON})


@settings(max_examples=400, deadline=None)
@given(HEADERS)
def test_any_result_header_is_an_outcome_or_refused(header):
    arrays = [np.zeros(3), np.arange(2.0)]
    try:
        outcome = _decode_result(header, arrays)
    except wire.WireError:
        return
    assert outcome.status in ("ok", "raised", "missing")
