#!/usr/bin/env bash
# The import contracts of pyproject.toml ([tool.importlinter]), checked on an installed copy:
# the stages live in top-level folders mapped into the convbench package (pyproject's
# package-dir), which import-linter cannot follow in the editable install.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-$root/.venv/bin/python}"
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
"$python" -m pip install --quiet --no-deps --no-compile --target "$copy" "$root" >/dev/null 2>&1 \
  || { echo "check_layers: could not install a copy of $root to check"; exit 1; }
rm -rf "$root/build"   # setuptools' build folder of that install
# From the copy's folder, so the working tree's convbench/ cannot shadow the installed copy.
cd "$copy" && "$python" -c "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())" "$root/pyproject.toml"
