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
echo "== docs (mkdocs build --strict)"
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir .venv/site
echo "== pytest"
.venv/bin/pytest -p no:cacheprovider "$@"
