"""What a notebook recorded when the student last ran it: printed losses, saved tracebacks and
interrupts, and the order cells ran in. Read from saved outputs; nothing is run.

A training log line is any line of a cell's stdout or stderr (ANSI colours removed; tqdm's
carriage-return redraws split into lines) with a loss on it:

- a loss is `loss`, optionally after `train`/`training` (training loss) or `val`/`valid`/
  `validation`/`dev` (validation loss) joined by a space, `_`, `-` or `.`, then an optional quote
  (dict reprs), an optional `:` or `=` and a number (`nan` and `inf` included, they matter);
  `test loss` is ignored;
- on the same line, `epoch`, `step`, `iter` or `iteration`, an optional `:`, `=`, `#`, `[` or `(`,
  a whole number and optionally `/N` or `of N` give the epoch or step and their totals.

So these all read: `Epoch: 3/20... Step: 100... Loss: 1.2345... Val Loss: 1.4567`,
`Epoch [3/20] train_loss=1.23 val_loss=1.45`, `step 500: train loss 1.2345, val loss 1.4567`,
`Epoch 3/20 - loss: 1.2345 - val_loss: 1.4567`, `iter 200 | loss 1.98`, `{'step': 300, 'loss':
1.9}`, and tqdm postfixes such as `100/100 [00:10<00:00, loss=1.23]`.
"""

from __future__ import annotations

import re

from grader.notebook.files import Cell, describe, joined
from grader.notebook.model import CellNote, RecordedLoss

MAX_STREAM = 500_000  # characters of one stream output read: thousands of log lines
MAX_SCANNED = 2_000_000  # characters of stream output read in all (about a second)
MAX_LINE = 200  # characters of a log line or an error message kept

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"
_LOSS = re.compile(
    rf"\b(?:(?P<split>val(?:id(?:ation)?)?|dev|train(?:ing)?|test)[\s_.-]*)?loss\b['\"]?\s*[:=]?\s*(?P<value>{_NUMBER})",
    re.IGNORECASE,
)
_COUNTER = re.compile(
    r"\b(?P<name>epoch|step|iter(?:ation)?)\b['\"]?[\s:=#\[(]*(?P<value>\d+)(?:\s*(?:/|of)\s*(?P<total>\d+))?",
    re.IGNORECASE,
)
_TRACEBACK = "Traceback (most recent call last)"
_EXCEPTION = re.compile(r"(?P<name>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit))(?::\s*(?P<message>.*))?")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def parse_loss_line(line: str) -> dict | None:
    """Epoch, step, their totals and the training and validation losses on one printed line, or
    None when it has no loss."""
    found: dict = {}
    for match in _LOSS.finditer(line):
        split = (match["split"] or "train").lower()
        key = "val_loss" if split.startswith(("val", "dev")) else None if split == "test" else "loss"
        if key and key not in found:
            found[key] = float(match["value"])
    if not found:
        return None
    for match in _COUNTER.finditer(line):
        key = "epoch" if match["name"].lower() == "epoch" else "step"
        if key not in found:
            found[key] = int(match["value"])
            found[f"{key}s"] = int(match["total"]) if match["total"] else None
    return found


def _label(cell: Cell) -> str:
    return f" (run as In [{cell.execution_count}])" if cell.execution_count is not None else ""


def read_outputs(code_cells: list[Cell]) -> tuple[list[RecordedLoss], list[CellNote]]:
    """Recorded losses and notes on errors and interrupts. Bounded: of each stream output the last
    MAX_STREAM characters are read (the end has the final losses and any traceback), and MAX_SCANNED
    in all; image and other rich outputs are never looked at."""
    losses: list[RecordedLoss] = []
    notes: list[CellNote] = []
    budget, exhausted = MAX_SCANNED, False
    for cell in code_cells:
        for index, output in enumerate(cell.outputs, start=1):
            if output.get("output_type") == "stream":
                text = joined(output.get("text"))
                if text is None:
                    notes.append(CellNote(cell=cell.number, kind="format", message=(
                        f"the text of its output {index} is {describe(output.get('text'))}, not text: ignored")))
                    continue
                if exhausted:
                    continue
                keep = min(MAX_STREAM, budget)
                if len(text) > keep:
                    exhausted = keep == 0
                    notes.append(CellNote(cell=cell.number, kind="limit", message=(
                        f"its output {index} is {len(text)} characters; only the last {keep} are read" if keep else
                        f"the saved outputs run past the {MAX_SCANNED} characters read: output {index} and the "
                        "stream outputs after it are not read")))
                    text = text[len(text) - keep:]
                budget -= len(text)
                text = strip_ansi(text)
                for line in re.split(r"[\r\n]+", text):
                    values = parse_loss_line(line)
                    if values:
                        losses.append(RecordedLoss(cell=cell.number, text=line.strip()[:MAX_LINE], **values))
                if _TRACEBACK in text:
                    last = [m for m in map(_EXCEPTION.fullmatch, text.split(_TRACEBACK)[-1].splitlines()) if m]
                    if last:
                        notes.append(_error_note(cell, last[-1]["name"], last[-1]["message"] or ""))
            elif output.get("output_type") == "error":
                name, message = output.get("ename"), output.get("evalue")
                notes.append(_error_note(cell, name if isinstance(name, str) else "an error",
                                         message if isinstance(message, str) else ""))
    return losses, notes


def _error_note(cell: Cell, name: str, message: str) -> CellNote:
    name, message = strip_ansi(name[:MAX_LINE]).strip(), strip_ansi(message[:MAX_LINE * 2]).strip()
    if name == "KeyboardInterrupt":
        run = f", run as In [{cell.execution_count}]" if cell.execution_count is not None else ""
        return CellNote(cell=cell.number, kind="interrupted",
                        message=f"was interrupted (KeyboardInterrupt{run}): its outputs stop there")
    shown = message if len(message) <= MAX_LINE else message[: MAX_LINE - 3] + "..."
    return CellNote(cell=cell.number, kind="error",
                    message=f"saved output ends in {name}{': ' + shown if shown else ''}{_label(cell)}")


def execution_order_note(code_cells: list[Cell]) -> CellNote | None:
    """A note when a cell ran before one above it (its execution count is lower): the saved
    outputs then do not show what running the notebook top to bottom would."""
    latest: tuple[int, int] | None = None  # (cell, count) with the highest count so far
    for cell in code_cells:
        number, count = cell.number, cell.execution_count
        if count is None:
            continue
        if latest is not None and count < latest[1]:
            return CellNote(cell=number, kind="order", message=(
                f"ran as In [{count}], before cell {latest[0]} above it (In [{latest[1]}]): the cells were not run "
                "top to bottom, which is how the grader reads them (as Restart & Run All runs them)"))
        if latest is None or count > latest[1]:
            latest = (number, count)
    return None
