"""Bounded readers for what a sandboxed program writes: a program that prints gigabytes or floods
the channel costs the grader reading time, never memory."""

from __future__ import annotations

import json

from grader.sandbox.channel import KIND_PATTERN
from grader.sandbox.models import Message

MAX_PROBLEMS = 20


class TailBuffer:
    """Keeps the last `keep` bytes of a stream and counts them all."""

    def __init__(self, keep: int):
        self.keep = keep
        self.total = 0
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._buffer += chunk
        if len(self._buffer) > 2 * self.keep:  # trim in batches, not on every chunk
            del self._buffer[: -self.keep]

    def text(self) -> str:
        return bytes(self._buffer[-self.keep :]).decode("utf-8", "replace")


class ChannelDecoder:
    """Splits the channel into lines and turns each into a Message.

    Only the first `max_bytes` are decoded; a line longer than `max_line_bytes` is skipped
    without being held in memory. Every line that is not a message becomes a problem (the first
    MAX_PROBLEMS are kept, the rest counted); none stops the decoding.
    """

    def __init__(self, max_bytes: int, max_line_bytes: int):
        self.max_bytes = max_bytes
        self.max_line_bytes = max_line_bytes
        self.messages: list[Message] = []
        self._problems: list[str] = []
        self._more_problems = 0
        self._received = 0
        self._line = 1
        self._pending = bytearray()
        self._oversized = False

    def feed(self, chunk: bytes) -> None:
        accepted = chunk[: max(0, self.max_bytes - self._received)]
        self._received += len(chunk)
        *complete, rest = accepted.split(b"\n")
        for piece in complete:
            self._end_line(piece)
        self._extend(rest)

    def skipped(self, count: int) -> None:
        """`count` more bytes came that the sender did not keep (a relay that kept the first
        `max_bytes`): counted as if fed."""
        self._received += count

    def finish(self) -> None:
        """Decode a last line that lacks its newline (a writer cut off mid-line shows up here)."""
        if self._pending or self._oversized:
            self._end_line(b"")

    @property
    def problems(self) -> list[str]:
        more = [f"... and {self._more_problems} more problems"] if self._more_problems else []
        if self._received > self.max_bytes:
            more.append(f"the channel carried {self._received} bytes; only the first {self.max_bytes} were read")
        return self._problems + more

    def _extend(self, piece: bytes) -> None:
        if self._oversized:
            return
        self._pending += piece
        if len(self._pending) > self.max_line_bytes:
            self._oversized = True
            self._pending.clear()

    def _end_line(self, piece: bytes) -> None:
        self._extend(piece)
        if self._oversized:
            self._problem(f"line {self._line}: longer than {self.max_line_bytes} bytes; skipped")
        elif self._pending.strip():
            self._decode(bytes(self._pending))
        self._pending.clear()
        self._oversized = False
        self._line += 1

    def _decode(self, line: bytes) -> None:
        where = f"line {self._line}"
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
            self._problem(f"{where}: not JSON ({str(error)[:100]})")
            return
        if not isinstance(value, dict) or set(value) != {"kind", "data"}:
            self._problem(f"{where}: expected an object with exactly 'kind' and 'data', got {line[:60]!r}")
        elif not isinstance(value["kind"], str) or not KIND_PATTERN.fullmatch(value["kind"]):
            self._problem(f"{where}: 'kind' must be 1-64 letters, digits, '.', '_' or '-', got {value['kind']!r:.60}")
        elif not isinstance(value["data"], dict):
            self._problem(f"{where}: 'data' must be an object, got {type(value['data']).__name__}")
        else:
            self.messages.append(Message(kind=value["kind"], data=value["data"]))

    def _problem(self, text: str) -> None:
        if len(self._problems) < MAX_PROBLEMS:
            self._problems.append(text)
        else:
            self._more_problems += 1
