"""`convbench inspect`: look inside artifact files, or at this machine, outside any run:
`quant-error` (a quantized file's per-layer error against its fp32 file), `layers` (per-layer
latency of a .tflite or .onnx file), `roofs` (this machine's measured roofs). The measuring is the
stages' own (optimize/quant_error.py, benchmarks/layers.py, benchmarks/roofs.py); this module
parses and checks every option before any work, and prints."""

from __future__ import annotations

from pathlib import Path

from convbench.cli.options import (add_console_args, existing_file, folder, output_file, positive_int,
                                   positive_seconds)

MODEL_FILE = existing_file(".tflite", ".onnx", what="model file")


def register(sub) -> None:
    p = sub.add_parser("inspect", help="per-layer quantization error or latency of any .tflite/.onnx file; "
                                       "this machine's roofs")
    inner = p.add_subparsers(dest="inspect", required=True, metavar="WHAT")

    q = inner.add_parser("quant-error", help="per-layer error (SNR, relative L2, max abs) of a quantized file "
                                             "against its fp32 file, both .tflite or both .onnx")
    q.add_argument("quantized", type=MODEL_FILE, metavar="QUANTIZED", help="the quantized .tflite or .onnx file")
    q.add_argument("reference", type=MODEL_FILE, metavar="FP32", help="the fp32 file it was made from, same format")
    q.add_argument("--data", type=existing_file(".npz", what="data file"), metavar="NPZ",
                   help="a convbench data set (artifacts/data/<key>.npz): compare on its validation images "
                        "(default: seeded random images)")
    q.add_argument("-n", "--samples", type=positive_int, default=64, metavar="N",
                   help="images compared, one at a time (default 64)")
    _add_log_args(q)
    q.set_defaults(handler=_cmd_quant_error)

    p = inner.add_parser("layers", help="per-layer latency at batch 1: time, share, ops and ops/s per layer, and "
                                        "how well the layers add up to the whole model")
    p.add_argument("paths", nargs="+", type=MODEL_FILE, metavar="MODEL",
                   help=".tflite (LiteRT + XNNPACK: single-op models) or .onnx (ONNX Runtime) file")
    p.add_argument("--threads", type=positive_int, default=1, metavar="N", help="threads (default 1)")
    p.add_argument("--budget-s", type=positive_seconds, default=1.5, metavar="S",
                   help="timing budget per model in seconds (default 1.5)")
    p.add_argument("--onnx-method", choices=["profiler", "sliced"], default="profiler",
                   help="for .onnx: ORT's profiler (default), or sliced: each node of ORT's optimized graph "
                        "timed alone (a cross-check of the profiler)")
    _add_log_args(p)
    p.set_defaults(handler=_cmd_layers)

    p = inner.add_parser("roofs", help="measure this machine's roofs as a bench run does (peak ops/s per precision "
                                       "and thread count, memory bandwidth, theoretical peaks)")
    p.add_argument("--devices", nargs="+", choices=["cpu", "gpu"], default=["cpu"],
                   help="cpu, gpu or both (default cpu)")
    p.add_argument("--quick", action="store_true", help="fewer rounds, one attempt (as a --quick run)")
    p.add_argument("--json", type=output_file, metavar="FILE", help="also write the roofs record (JSON) to FILE")
    # No library log: the roofs are measured in a child process whose output is kept apart.
    p.set_defaults(handler=_cmd_roofs)


def _add_log_args(p) -> None:
    p.add_argument("--out", type=folder, default=Path("artifacts"), metavar="DIR",
                   help="artifacts folder: what the runtimes print goes to DIR/logs/ (default artifacts/)")
    add_console_args(p)


def _check_loads(paths) -> None:
    """Each file loads in the runtime that reads its format: a corrupt or foreign file is one line
    naming it, before any measuring."""
    from convbench.core.errors import UserError
    from convbench.core.formats import family_of_path
    from convbench.core.runtimes import runtime_for

    for path in paths:
        try:
            runtime_for(family_of_path(path)).load(path)
        except UserError:
            raise
        except Exception as exc:   # the runtimes' own errors (a bad flatbuffer, a bad protobuf)
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise UserError(f"{path}: not a {path.suffix} model the runtime can load ({why})") from None


def _cmd_quant_error(args) -> int:
    from convbench.core.errors import UserError

    if args.quantized.suffix != args.reference.suffix:
        raise UserError(f"{args.quantized} and {args.reference}: compare two .tflite or two .onnx files")
    _check_loads([args.quantized, args.reference])
    from convbench.optimize.quant_error import compare, format_report, inputs_for

    xs = inputs_for(args.reference, args.data, args.samples)
    print(format_report(compare(args.quantized, args.reference, xs)))
    return 0


def _cmd_layers(args) -> int:
    _check_loads(args.paths)
    from convbench.benchmarks.layers import profile
    from convbench.core.tables import print_lines, print_table

    for path in args.paths:
        p = profile(path, args.threads, args.budget_s, args.onnx_method)
        rows = [(layer.index, layer.op_type, f"{layer.time_us:.2f}", f"{layer.share:.1%}", f"{layer.ops / 1e6:.2f}",
                 f"{layer.ops_per_s / 1e9:.1f}" if layer.ops_per_s else None, layer.name[:60]) for layer in p.layers]
        print_table(("#", "op", "time µs", "share", "Mop", "Gop/s", "name"), rows, right=(0, 2, 3, 4, 5),
                    title=f"{path} ({args.threads} thread(s), batch 1)")
        print_lines([f"whole model {p.whole_us:.2f} µs; sum of layers + one call's overhead {p.overhead_us:.2f} µs = "
                     f"{p.sum_ratio:.3f} x whole", *p.notes, f"method: {p.method}", ""])
    return 0


def _cmd_roofs(args) -> int:
    from convbench.benchmarks.roofs import measure_in_child, summary_lines
    from convbench.core.records import write_record
    from convbench.core.tables import print_lines

    roofs = measure_in_child(tuple(args.devices), quick=args.quick)
    print_lines([line for d in roofs.at_start for line in summary_lines(d)]
                + [f"{k}: no roofs ({v})" for k, v in roofs.not_measured.items()])
    if args.json:
        write_record(args.json, roofs)
        print(f"roofs record: {args.json}")
    return 0
