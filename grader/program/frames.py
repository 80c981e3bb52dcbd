"""The wire between the harness's two processes inside the sandbox: the supervisor (grader code
only) and the worker (the student's definitions). One frame is a 4-byte little-endian length, a
JSON header of that length, then the raw bytes of the arrays the header lists (`"arrays": [{"dtype":
"f4" | "f8" | "i8", "shape": [...]}]`), so weights of millions of parameters cross as bytes, not as JSON
numbers, and nothing is ever unpickled.

The worker's side is written by student code's process, so `read_frame` treats it as hostile:
sizes are checked before anything is allocated, every read has a deadline, and the header is
plain JSON of bounded size. Standard library and numpy only: it runs on every start.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

import numpy as np

DTYPES = {"f4": np.dtype("<f4"), "f8": np.dtype("<f8"), "i8": np.dtype("<i8")}
MAX_DIMENSIONS = 8
# the dtypes a notebook function's output may hold (numpy's and torch's names), and the type each travels as
ARRAY_DTYPES = {**dict.fromkeys(("bool", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64"), "i8"),
                **dict.fromkeys(("float16", "bfloat16", "float32"), "f4"), "float64": "f8"}


def wire_type(array: np.ndarray) -> str:
    """i8 for whole numbers and booleans, f8 for float64, f4 for other floats."""
    return "i8" if array.dtype.kind in "iub" else "f8" if array.dtype == np.float64 else "f4"


class FrameError(Exception):
    """What came over the wire is not a frame: too big, cut short, late, or malformed."""


def write_frame(fd: int, header: dict, arrays: list[np.ndarray] = ()) -> None:
    """Send `header` and `arrays` (each converted to int64, float64 or float32 by `wire_type`, C order)."""
    packed = [np.ascontiguousarray(a, dtype=DTYPES[wire_type(a)]) for a in arrays]
    header = {**header, "arrays": [{"dtype": wire_type(a), "shape": list(a.shape)} for a in packed]}
    data = json.dumps(header, separators=(",", ":"), allow_nan=True).encode()
    view = memoryview(struct.pack("<I", len(data)) + data + b"".join(a.tobytes() for a in packed))
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, count: int, deadline: float | None) -> bytes:
    chunks, left = [], count
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise FrameError("the connection closed in the middle of a frame" if chunks or left < count
                             else "the connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_bytes(fd: int, count: int, deadline: float | None = None) -> bytes:
    """The next `count` raw bytes (what follows a frame that announced them)."""
    return _read_exactly(fd, count, deadline) if count else b""


def read_frame(fd: int, deadline: float | None = None, *, max_header: int = 4 << 20,
               max_array_bytes: int = 256 << 20) -> tuple[dict, list[np.ndarray]]:
    """The next frame's header and arrays. TimeoutError once `deadline` (time.monotonic) passes,
    FrameError for anything that is not a frame within the bounds."""
    (length,) = struct.unpack("<I", _read_exactly(fd, 4, deadline))
    if length > max_header:
        raise FrameError(f"a header of {length:,} bytes, over the {max_header:,} allowed")
    try:
        header = json.loads(_read_exactly(fd, length, deadline))
    except (ValueError, RecursionError) as exc:
        raise FrameError(f"a header that is not JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise FrameError("a header without its list of arrays")
    layouts, total = [], 0
    for entry in header["arrays"]:
        shape = entry.get("shape") if isinstance(entry, dict) else None
        dtype = DTYPES.get(entry.get("dtype")) if isinstance(entry, dict) else None
        if dtype is None or not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS or not all(
                type(size) is int and 0 <= size <= max_array_bytes for size in shape):
            raise FrameError(f"an array described as {str(entry)[:80]}")
        count = 1
        for size in shape:
            count *= size
        total += count * dtype.itemsize
        if total > max_array_bytes:
            raise FrameError(f"arrays of over {max_array_bytes:,} bytes")
        layouts.append((dtype, shape, count))
    arrays = [np.frombuffer(_read_exactly(fd, count * dtype.itemsize, deadline), dtype=dtype).reshape(shape)
              for dtype, shape, count in layouts]
    return header, arrays
