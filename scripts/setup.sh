#!/usr/bin/env bash
# Set up grader on a fresh Debian/Ubuntu machine: bubblewrap (the sandbox for student code, from
# Debian's packages) and a virtualenv in .venv with grader installed. `bash scripts/setup.sh test`
# adds the test dependencies, Ray's included (the cluster tests, tests/test_ray.py). Without
# bubblewrap grader still runs, on the weaker documented fallback (docs/sandbox.md), and says so
# in every report it affects.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v bwrap >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
  { $sudo apt-get update -q && $sudo apt-get install -y -q bubblewrap; } >/dev/null 2>&1 \
    || echo "warning: could not install bubblewrap (apt-get install bubblewrap); student code will run on the weaker fallback" >&2
fi
extras=""; [ "${1:-}" = "test" ] && extras="[test,ray]"
python3 -m venv .venv
.venv/bin/pip install -q -e ".${extras}"
# grader's own bytecode, as pip compiles an installed package's: where PYTHONDONTWRITEBYTECODE is
# set (many CI images), every run would otherwise compile its hundred modules again (0.2 s)
.venv/bin/python -m compileall -q grader reference >/dev/null
