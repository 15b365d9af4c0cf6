"""Framing between the grader and its sandboxed child: JSON plus raw .npy blobs, no pickle.

This module is copied next to the child harness, so it imports only the standard library and
numpy. A frame is

    MAGIC | nonce (16 bytes) | u32 header length | header JSON | u32 blob count |
    (u64 blob length | .npy bytes) * count

The parent decodes what the child sends with `FrameReader`, which checks every length
against its caps before buffering and validates each .npy header before anything is
allocated: a child can choose its own outputs, never the parent's memory use or code path.
"""

from __future__ import annotations

import functools
import io
import json
import re
import struct

import numpy as np
from numpy.lib import format as npformat

MAGIC = b"BPG1"
NONCE_BYTES = 16
MAX_HEADER_BYTES = 1 << 20
MAX_BLOBS = 256
# Real numeric dtypes only: no objects, strings, records or datetimes ever reach the parent.
ALLOWED_KINDS = frozenset("biufc")


class WireError(ValueError):
    """The bytes do not form a valid frame."""


_PLAIN_DESCR = re.compile(r"[<>|][biufc][0-9]{1,2}")
GROWTH_DIGITS = getattr(npformat, "GROWTH_AXIS_MAX_DIGITS", 21)


def encode_array(array: np.ndarray) -> bytes:
    """The .npy bytes of an array (C order). A plain numeric dtype gets the very header
    np.save writes, built here: numpy's writer costs tens of microseconds an array, and a
    grading sends hundreds each way."""
    array = np.asarray(array)
    dtype = array.dtype
    if dtype.fields is not None or dtype.subdtype is not None or dtype.metadata or \
            not _PLAIN_DESCR.fullmatch(dtype.str):
        buf = io.BytesIO()
        # np.ascontiguousarray would turn a 0-d array into shape (1,): copy instead.
        npformat.write_array(buf, np.array(array, copy=True, order="C"), allow_pickle=False)
        return buf.getvalue()
    shape = array.shape
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (dtype.str, shape)
    if shape:  # numpy's room to grow the first axis in place
        header += " " * (GROWTH_DIGITS - len(repr(shape[0])))
    # magic (8), u16 length (2), header and "\n", padded to numpy's 64-byte alignment (at
    # most 64 dimensions: the length always fits version 1.0's u16)
    size = len(header) + 1
    size += -(10 + size) % 64
    return b"".join((b"\x93NUMPY\x01\x00", struct.pack("<H", size),
                     header.ljust(size - 1).encode("latin1"), b"\n", array.tobytes(order="C")))


# The header np.save writes for a plain array; anything else goes through numpy's parser.
_HEADER = re.compile(rb"\{'descr': '([<>|][biufc][0-9]{1,2})', 'fortran_order': (True|False), "
                     rb"'shape': \(((?:[0-9]{1,12}, ?)*[0-9]{0,12})\), \} *\n")


def _fast_header(blob: bytes) -> tuple[tuple[int, ...], bool, np.dtype, int] | None:
    if blob[:8] != b"\x93NUMPY\x01\x00":
        return None
    (size,) = struct.unpack_from("<H", blob, 8)
    m = _HEADER.fullmatch(blob, 10, 10 + size)
    if m is None:
        return None
    shape = tuple(int(d) for d in m.group(3).split(b",") if d.strip())
    return shape, m.group(2) == b"True", _dtype(m.group(1)), 10 + size


@functools.lru_cache(maxsize=None)  # bounded: _HEADER admits 1,500 descriptions at most
def _dtype(descr: bytes) -> np.dtype:
    return np.dtype(descr.decode())


def decode_array(blob: bytes, max_bytes: int) -> np.ndarray:
    """A .npy blob to a plain ndarray, after checking its header against its length.
    Whatever the bytes, the only exception is WireError: a verdict on the sender."""
    if len(blob) > max_bytes:
        raise WireError(f"array of {len(blob)} bytes exceeds the {max_bytes}-byte limit")
    try:
        fast = _fast_header(blob)
        if fast is not None:
            shape, fortran, dtype, offset = fast
            return _from_payload(memoryview(blob)[offset:], shape, fortran, dtype)
        fp = io.BytesIO(blob)
        version = npformat.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(fp, max_header_size=1024)
        elif version == (2, 0):
            shape, fortran, dtype = npformat.read_array_header_2_0(fp, max_header_size=1024)
        else:
            raise WireError(f"unsupported .npy version {version}")
        return _from_payload(memoryview(blob)[fp.tell():], shape, fortran, dtype)
    except WireError:
        raise
    except Exception as e:  # noqa: BLE001 - numpy raises many types for odd headers
        raise WireError(f"bad .npy header: {type(e).__name__}: {str(e)[:200]}") from None


def _from_payload(payload: memoryview, shape, fortran: bool, dtype: np.dtype) -> np.ndarray:
    if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype:
        raise WireError(f"dtype {dtype} is not a plain numeric type")
    count = 1
    for dim in shape:
        if not isinstance(dim, int) or dim < 0:
            raise WireError(f"bad shape {shape}")
        count *= dim
    if count * dtype.itemsize != len(payload):
        raise WireError(f"header says {count * dtype.itemsize} bytes for shape {shape}, "
                        f"{len(payload)} present")
    order = "F" if fortran else "C"
    return np.frombuffer(payload, dtype=dtype).reshape(shape, order=order).copy()


def encode_frame(nonce: bytes, header: dict, blobs: list[bytes] = ()) -> bytes:
    head = json.dumps(header, allow_nan=False).encode()
    parts = [MAGIC, nonce, struct.pack("<I", len(head)), head, struct.pack("<I", len(blobs))]
    for blob in blobs:
        parts += [struct.pack("<Q", len(blob)), blob]
    return b"".join(parts)


# "\ud800" in JSON: half of a character. Printed, or written to a UTF-8 file, such a
# string raises; one in a student's print or error message must not stop the grader.
_SURROGATE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _text_only(value):
    """`value` with every lone surrogate in its strings replaced by "?" (pairs, which make
    one character, were joined by json.loads already)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_text_only(v) for v in value]
    if isinstance(value, dict):
        return {_text_only(k): _text_only(v) for k, v in value.items()}
    return value


class FrameReader:
    """Incrementally cut a byte stream into frames, enforcing caps as lengths arrive."""

    def __init__(self, nonce: bytes, max_frame_bytes: int, max_blobs: int = MAX_BLOBS):
        self.nonce = nonce
        self.max_frame_bytes = max_frame_bytes
        self.max_blobs = max_blobs
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[dict, list[bytes]]]:
        """Add bytes; return every complete frame (header, raw blobs). Raise WireError."""
        self.buffer += data
        frames = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _need(self, size: int) -> bool:
        if size > self.max_frame_bytes:
            raise WireError(f"frame larger than the {self.max_frame_bytes}-byte limit")
        return len(self.buffer) >= size

    def _next(self) -> tuple[dict, list[bytes]] | None:
        buf = self.buffer
        pos = len(MAGIC) + NONCE_BYTES
        if len(buf) >= len(MAGIC) and buf[:len(MAGIC)] != MAGIC:
            raise WireError("stream does not start with a frame")
        if len(buf) >= pos and bytes(buf[len(MAGIC):pos]) != self.nonce:
            raise WireError("frame carries the wrong nonce")
        if not self._need(pos + 4):
            return None
        (head_len,) = struct.unpack_from("<I", buf, pos)
        if head_len > MAX_HEADER_BYTES:
            raise WireError("frame header too large")
        pos += 4
        if not self._need(pos + head_len + 4):
            return None
        header_bytes = bytes(buf[pos:pos + head_len])
        pos += head_len
        (count,) = struct.unpack_from("<I", buf, pos)
        if count > self.max_blobs:
            raise WireError(f"{count} arrays in one frame; at most {self.max_blobs}")
        pos += 4
        spans = []
        for _ in range(count):
            if not self._need(pos + 8):
                return None
            (size,) = struct.unpack_from("<Q", buf, pos)
            pos += 8
            if not self._need(pos + size):
                return None
            spans.append((pos, pos + size))
            pos += size
        try:
            header = json.loads(header_bytes)
            if _SURROGATE.search(header_bytes):
                header = _text_only(header)
        except (ValueError, RecursionError):
            raise WireError("frame header is not JSON") from None
        if not isinstance(header, dict):
            raise WireError("frame header is not a JSON object")
        blobs = [bytes(buf[a:b]) for a, b in spans]
        del buf[:pos]
        return header, blobs
