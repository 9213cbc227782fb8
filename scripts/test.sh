#!/usr/bin/env bash
# Sets up .venv with the development extras, then runs every check of the project:
# ruff (lint + format), mypy --strict, the strict docs build, and pytest (which also runs the
# docs' code examples). Works on a fresh machine that has only python3 and the package registry.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy
echo "== docs (mkdocs build --strict; any warning fails)"
# No --quiet: it silences the logger that strict mode counts warnings on, so nothing failed.
# The log is also searched, for warnings of plugins that strict mode does not count.
docs_log=.venv/mkdocs-build.log
if ! NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir .venv/site >"$docs_log" 2>&1 \
  || grep -Eq '^(WARNING|ERROR)' "$docs_log"; then
  grep -Ev '^INFO' "$docs_log" >&2
  echo "docs: the build failed or warned (above); fix every warning" >&2
  exit 1
fi
echo "== pytest"
.venv/bin/pytest -p no:cacheprovider "$@"
