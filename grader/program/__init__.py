"""Notebook programs: the coding question's model, built, probed, retrained and sampled in the
sandbox, and judged in the grader's own process.

- `spec`: the rubric's `program:` section (model contract, budgets per device, held-out windows,
  generation call, reference notebook);
- `run`: `ProgramSetup` (what every run shares) and `observe` (one sandboxed run -> `ProgramRun`);
- `harness`: the script that runs inside the sandbox;
- `calibration`: the reference notebook retrained over seeds, per device, cached in a file;
- `functions`: the function checks' inputs, and their outputs compared with the reference's.

See docs/programs.md.
"""
