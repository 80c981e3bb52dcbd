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

from grader.notebook.files import joined
from grader.notebook.model import CellNote, RecordedLoss

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


def _label(cell: dict) -> str:
    count = cell.get("execution_count")
    return f" (run as In [{count}])" if isinstance(count, int) else ""


def read_outputs(code_cells: list[tuple[int, dict]]) -> tuple[list[RecordedLoss], list[CellNote]]:
    """Recorded losses and notes on errors and interrupts, from (cell number, cell) pairs."""
    losses: list[RecordedLoss] = []
    notes: list[CellNote] = []
    for number, cell in code_cells:
        outputs = cell.get("outputs")
        for output in outputs if isinstance(outputs, list) else []:
            if not isinstance(output, dict):
                continue
            if output.get("output_type") == "stream":
                text = strip_ansi(joined(output.get("text")))
                for line in re.split(r"[\r\n]+", text):
                    values = parse_loss_line(line)
                    if values:
                        losses.append(RecordedLoss(cell=number, text=line.strip(), **values))
                if _TRACEBACK in text:
                    last = [m for m in map(_EXCEPTION.fullmatch, text.split(_TRACEBACK)[-1].splitlines()) if m]
                    if last:
                        notes.append(_error_note(number, cell, last[-1]["name"], last[-1]["message"] or ""))
            elif output.get("output_type") == "error":
                notes.append(_error_note(number, cell, str(output.get("ename", "")), str(output.get("evalue", ""))))
    return losses, notes


def _error_note(number: int, cell: dict, name: str, message: str) -> CellNote:
    name, message = strip_ansi(name).strip(), strip_ansi(message).strip()
    if name == "KeyboardInterrupt":
        return CellNote(cell=number, kind="interrupted",
                        message=f"was interrupted (KeyboardInterrupt){_label(cell)}: its outputs stop there")
    shown = message if len(message) <= 200 else message[:197] + "..."
    return CellNote(cell=number, kind="error", message=f"saved output ends in {name}: {shown}{_label(cell)}")


def execution_order_note(code_cells: list[tuple[int, dict]]) -> CellNote | None:
    """A note when a cell ran before one above it (its execution count is lower): the saved
    outputs then do not show what running the notebook top to bottom would."""
    latest: tuple[int, int] | None = None  # (cell, count) with the highest count so far
    for number, cell in code_cells:
        count = cell.get("execution_count")
        if not isinstance(count, int):
            continue
        if latest is not None and count < latest[1]:
            return CellNote(cell=number, kind="order", message=(
                f"ran as In [{count}], before cell {latest[0]} above it (In [{latest[1]}]): "
                "the cells were not run top to bottom"))
        if latest is None or count > latest[1]:
            latest = (number, count)
    return None
