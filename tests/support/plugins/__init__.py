"""pytest plugins loaded into a `convbench bench` child with `-p NAME`, each injecting one fault
the bench must catch. The child imports them as top-level modules from this folder."""

from __future__ import annotations

from pathlib import Path

PLUGINS = Path(__file__).parent


def bench_plugin(monkeypatch, name: str) -> tuple[str, str]:
    """The pytest arguments that load plugin `name` into the bench child, with this folder put on
    the child's PYTHONPATH (restored when the test ends)."""
    if not (PLUGINS / f"{name}.py").is_file():
        raise ValueError(f"no bench plugin {name!r} in {PLUGINS}")
    monkeypatch.setenv("PYTHONPATH", str(PLUGINS))
    return "-p", name
