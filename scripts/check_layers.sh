#!/usr/bin/env bash
# The import contracts of pyproject.toml ([tool.importlinter]), checked on an installed copy:
# the stages live in top-level folders mapped into the convbench package (pyproject's
# package-dir), which import-linter cannot follow in the editable install.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="$(realpath -s "${1:-$root/.venv/bin/python}")"   # absolute: the check runs from another folder
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The sources as they are now (committed or not), copied so that the install's build folder is
# not left in the working tree.
tar -C "$root" --exclude=./.venv --exclude=./.git --exclude=./artifacts --exclude=./build --exclude=./.benchmarks \
    -cf - . | (mkdir "$work/src" && tar -C "$work/src" -xf -)
# With the venv's uv (the venv has no pip: Makefile).
"$(dirname "$python")/uv" pip install --quiet --python "$python" --no-deps --target "$work/site" "$work/src" \
    >/dev/null 2>&1 \
  || { echo "check_layers: could not install a copy of $root to check"; exit 1; }
# From the copy's folder, so the working tree's convbench/ cannot shadow the installed copy.
cd "$work/site"
"$python" -c "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())" \
    "$root/pyproject.toml"
