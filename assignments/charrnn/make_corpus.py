"""Write corpus.txt (handed out) and holdout.txt (private) for the CharRNN course, from
assignments/charlstm/make_corpus.py's seeded grammar with seeds of their own, so this course's
students never hold Assignment 1's text or its held-out prose and the files can be rebuilt byte
for byte:

    python assignments/charrnn/make_corpus.py            # rewrites corpus.txt and holdout.txt
    python assignments/charrnn/make_corpus.py --check    # exits 1 if either differs

holdout.txt is rubrics/charrnn.yaml's program.holdout.path: never handed out, limited to the
corpus's characters.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus.txt"
HOLDOUT = HERE / "holdout.txt"
SEED = 1859
TARGET_CHARS = 300_000
HOLDOUT_SEED = 3141
HOLDOUT_CHARS = 40_000


def grammar():
    """assignments/charlstm/make_corpus.py as a module (assignments/ is not a package)."""
    spec = importlib.util.spec_from_file_location("charlstm_make_corpus", HERE.parent / "charlstm" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing them")
    check = parser.parse_args().check
    make = grammar()
    corpus = make.build(SEED, TARGET_CHARS)
    files = {CORPUS: corpus, HOLDOUT: make.build_holdout(HOLDOUT_SEED, HOLDOUT_CHARS, corpus=corpus)}
    if check:
        stale = [path for path, text in files.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
        for path in files:
            print(f"{path}: {'differs from the generator; rebuild it' if path in stale else 'up to date'}")
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path} ({len(text)} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
