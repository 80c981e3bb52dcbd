"""Answers computed by the notebook's own code: the rubric's `notebook:` section.

A part with `value: NAME` is answered by what the notebook's cells leave in the variable NAME when
they run top to bottom in the sandbox (`runner`, one process, every cell in order, each cell's
failure its own). The value comes back as plain data (`run`), becomes an answer like one from an
answer file, and the part's own kind judges it in the grader's process; `solution: notebook.NAME`
takes the key from the rubric's reference notebook, run the same way. See docs/notebooks.md,
"Values computed by the notebook".
"""
