"""Whole-model efficiency of real artifacts against the measured roofs: times each artifact with
the suite's own runtimes (benchmarks/runtimes) at each batch and thread count, counts its ops
from the artifact's graph, and reports achieved ops/s as a share of `Roofs.roof_for` — flagging
any row above 100 % (that means a roof is wrong: extend the probes, never clip).

Roofs are measured before and after the rows and pooled (best of each probe), because the CPU
is shared: a roof probe that ran while another process held a core reads low.

Run: python -m convbench.benchmarks.roofline_check artifacts/manifest.json [more.tflite ...]
     [--batches 1 32] [--threads 1 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from convbench.benchmarks import layer_ops as lo
from convbench.benchmarks.roofs import ARTIFACT_PRECISIONS, Roofs, measure_roofs, pool

RUNTIME_OF = {".tflite": "litert", ".onnx": "onnxruntime"}


@dataclass(frozen=True)
class Row:
    artifact: str
    fmt: str
    runtime: str
    batch: int
    threads: int
    median_s: float
    ops_per_image: int         # real-pixel count (layer_ops.py)
    ops_dense_per_image: int
    roof_precision: str
    roof_ops_per_s: float
    roof_method: str

    @property
    def ops_per_s(self) -> float:
        return self.ops_per_image * self.batch / self.median_s

    @property
    def efficiency(self) -> float:
        return self.ops_per_s / self.roof_ops_per_s

    @property
    def efficiency_dense(self) -> float:
        return self.ops_dense_per_image * self.batch / self.median_s / self.roof_ops_per_s


def model_ops(path) -> lo.LayerOps:
    """Ops per image (batch 1) summed over the graph's conv and matmul layers."""
    path = Path(path)
    if path.suffix == ".tflite":
        from convbench.benchmarks import tflite_graph as tg

        model = tg.read_model(path)
        counts = [tg.op_ops(model, op) for op in tg.graph_ops(model)]
    else:
        counts = _onnx_ops(path)
    return lo.LayerOps(sum(c.ops_real for c in counts), sum(c.ops_dense for c in counts), "model")


def _onnx_ops(path: Path) -> list[lo.LayerOps]:
    import onnx

    from convbench.benchmarks.layers_onnx import node_ops

    model = onnx.load(str(path))
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    dim0.Clear()
    dim0.dim_value = 1
    _topological_sort(model.graph)   # shape inference walks nodes in file order
    model = onnx.shape_inference.infer_shapes(model)
    shapes = {i.name: list(i.dims) for i in model.graph.initializer}
    for v in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        shapes[v.name] = [d.dim_value for d in v.type.tensor_type.shape.dim]
    counts = []
    for node in model.graph.node:
        if node.input and node.output and node.input[0] in shapes and node.output[0] in shapes:
            args = {"input_type_shape": [{"t": shapes[node.input[0]]}],
                    "output_type_shape": [{"t": shapes[node.output[0]]}]}
            counts.append(node_ops(node, shapes, args))
    return counts


def _topological_sort(graph) -> None:
    """Reorder graph.node so every node follows its producers (onnxruntime's fp16 converter
    appends the input Cast at the end of the list)."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        progress = [n for n in pending if all(i in ready for i in n.input)]
        if not progress:
            ordered.extend(pending)   # a cycle or a subgraph reference: keep the rest as is
            break
        for n in progress:
            ordered.append(n)
            ready.update(n.output)
            pending.remove(n)
    nodes = [type(n)() for n in ordered]
    for copy, n in zip(nodes, ordered):
        copy.CopyFrom(n)
    del graph.node[:]
    graph.node.extend(nodes)


def time_artifact(path, runtime: str, batch: int, threads: int, budget_s: float = 0.3, min_runs: int = 20) -> float:
    """Median seconds of the runtime's timed step (Session.run), as the benchmark suite times it."""
    from convbench.benchmarks.runtimes import get_runtime

    session = get_runtime(runtime).load(path, threads=threads, batch=batch)
    feed = session.prepare(np.random.default_rng(0).random(session.input_shape, dtype=np.float32))
    for _ in range(5):
        session.run(feed)
    times, deadline = [], time.perf_counter() + budget_s
    while len(times) < min_runs or time.perf_counter() < deadline:
        t0 = time.perf_counter()
        session.run(feed)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def artifacts_from(paths) -> list[tuple[Path, str]]:
    """(path, format) from manifest.json files and artifact files (format = the file's stem)."""
    out = []
    for p in map(Path, paths):
        if p.suffix == ".json":
            for row in json.loads(p.read_text())["artifacts"]:
                if row.get("path") and Path(row["path"]).suffix in RUNTIME_OF:
                    out.append((Path(row["path"]), row["format"]))
        else:
            out.append((p, p.stem))
    return out


def check(paths, batches=(1, 32), threads=(1, 2)) -> tuple[Roofs, list[Row]]:
    before = measure_roofs()
    timed = []
    for path, fmt in artifacts_from(paths):
        ops = model_ops(path)
        for batch in batches:
            for t in threads:
                timed.append((path, fmt, RUNTIME_OF[path.suffix], batch, t,
                              time_artifact(path, RUNTIME_OF[path.suffix], batch, t), ops))
    roofs = pool(before, measure_roofs())
    rows = []
    for path, fmt, runtime, batch, t, median_s, ops in timed:
        roof = roofs.roof_for(fmt, t)
        rows.append(Row(str(path), fmt, runtime, batch, t, median_s, ops.ops_real, ops.ops_dense,
                        roof.precision, roof.ops_per_s, roof.method))
    return roofs, rows


def format_rows(roofs: Roofs, rows: list[Row]) -> str:
    lines = [f"machine: {roofs.machine['cpu_model']} (family {roofs.machine['cpu_family']}), "
             f"{roofs.machine['usable_cores']} cores, flags {' '.join(roofs.machine['flags'])}; "
             f"other processes used {100 * roofs.foreign_cpu_share:.0f} % of the CPU while roofs were measured"]
    for precision in ("fp32", "int8", "fp16"):
        for t in sorted({r.threads for r in rows}):
            roof = roofs.best(precision, t)
            if roof:
                lines.append(f"roof {precision} <= {t} thread(s): {roof.ops_per_s / 1e9:7.1f} Gop/s  "
                             f"({roof.method}, {roof.threads}t)")
    lines.append(f"{'format':<16} {'rt':<11} {'b':>3} {'t':>2} {'µs/batch':>10} {'Gop/s':>8} {'eff':>7} "
                 f"{'dense':>7}  roof")
    for r in rows:
        flag = "  <-- ABOVE ROOF" if r.efficiency > 1 else ""
        lines.append(f"{r.fmt:<16} {r.runtime:<11} {r.batch:>3} {r.threads:>2} {r.median_s * 1e6:10.1f} "
                     f"{r.ops_per_s / 1e9:8.1f} {100 * r.efficiency:6.1f}% {100 * r.efficiency_dense:6.1f}%  "
                     f"{r.roof_precision} {r.roof_ops_per_s / 1e9:.0f}{flag}  {Path(r.artifact).parent.name}")
    top = max(rows, key=lambda r: r.efficiency)
    lines.append(f"largest efficiency: {100 * top.efficiency:.1f} % ({top.fmt}, {top.runtime}, batch {top.batch}, "
                 f"{top.threads} thread(s)); rows above 100 %: {sum(r.efficiency > 1 for r in rows)} of {len(rows)}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path, help="write roofs and rows here")
    args = parser.parse_args(argv)
    unknown = {fmt for _, fmt in artifacts_from(args.paths) if fmt not in ARTIFACT_PRECISIONS}
    if unknown:
        print(f"formats without a precision rule (get the best roof of any precision): {sorted(unknown)}")
    roofs, rows = check(args.paths, args.batches, args.threads)
    print(format_rows(roofs, rows))
    if args.json:
        args.json.write_text(json.dumps({"roofs": roofs.to_dict(), "rows": [
            {**asdict(r), "ops_per_s": r.ops_per_s, "efficiency": r.efficiency} for r in rows]}, indent=1))


if __name__ == "__main__":
    main()
