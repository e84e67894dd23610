"""The results store's commands: import a run folder, list runs, a metric over commits on one
machine (`history`), and the same artifacts across machines (`machines`)."""

from __future__ import annotations

from pathlib import Path

from convbench.cli.options import existing_path, output_file, positive_int, threads_filter
from convbench.core.records.store import HISTORY_METRICS, STORE_FILE


def _add_store(p) -> None:
    p.add_argument("--store", type=output_file, default=Path("artifacts") / STORE_FILE, metavar="FILE",
                   help=f"the results store (default artifacts/{STORE_FILE})")


def _add_row_filters(p, model_required: bool) -> None:
    p.add_argument("--model", required=model_required, help="lesson convnet")
    p.add_argument("--variant", required=model_required, help="variant")
    p.add_argument("--format", help="artifact format (default: all of the variant's)")
    p.add_argument("--runtime", help="runtime (default: all)")
    p.add_argument("--device", choices=["cpu", "gpu"], help="cpu or gpu (default: all)")
    p.add_argument("--batch", type=positive_int, help="batch size (default: all)")
    p.add_argument("--threads", type=threads_filter, help="thread count, or auto (default: all)")


def _filters(args) -> dict:
    return dict(model=args.model, variant=args.variant, format=args.format, runtime=args.runtime,
                device=args.device, batch=args.batch, threads=args.threads)


def register(sub) -> None:
    p = sub.add_parser("import", help="store run folders (made here or on another machine) in the results store")
    p.add_argument("run_dirs", nargs="+", type=existing_path("run folder or bench.json"), metavar="RUN_DIR",
                   help="run folder (holding bench.json)")
    _add_store(p)
    p.set_defaults(handler=_cmd_import)

    p = sub.add_parser("runs", help="list the runs in the results store")
    _add_store(p)
    p.set_defaults(handler=_cmd_runs)

    p = sub.add_parser("history", help="a metric over stored runs (commits) on one machine: table and plot")
    p.add_argument("metric", choices=HISTORY_METRICS, metavar="METRIC", help=f"one of {', '.join(HISTORY_METRICS)}")
    _add_row_filters(p, model_required=True)
    p.add_argument("--machine", metavar="ID", help="machine id or prefix (default: the newest matching run's)")
    p.add_argument("--plot", type=output_file, metavar="PNG",
                   help="where to write the plot (default: history-<metric>-<model>-<variant>.png beside the store)")
    _add_store(p)
    p.set_defaults(handler=_cmd_history)

    p = sub.add_parser("machines", help="the same artifacts across machines: per-row ratio and efficiency vs each roof")
    p.add_argument("run_dirs", nargs="*", type=existing_path("run folder or bench.json"), metavar="RUN_DIR",
                   help="compare these run folders directly, the first as reference (no store needed); "
                        "default: the newest stored run of each machine")
    _add_row_filters(p, model_required=False)
    p.add_argument("--runs", nargs="+", metavar="ID",
                   help="compare these stored runs (ids or prefixes; the first is the reference) instead of the "
                        "newest run of each machine")
    _add_store(p)
    p.set_defaults(handler=_cmd_machines)


def _cmd_import(args) -> int:
    from convbench.core.lock import folder_lock
    from convbench.store.db import import_runs

    with folder_lock(args.store.parent, "import"):
        for done in import_runs(args.store, args.run_dirs):
            what = "already stored" if done.already_stored else f"stored {done.rows} rows"
            print(f"{done.folder}: run {done.run_id[:12]} {what} in {args.store}")
    return 0


def _cmd_runs(args) -> int:
    from convbench.store.history import commit_label
    from convbench.store.db import connect
    from convbench.store.queries import list_runs
    from convbench.core.tables import print_lines, print_table

    with connect(args.store) as con:
        runs = list_runs(con)
    print_table(["run", "started (UTC)", "commit", "machine", "CPU / GPU", "quick", "rows", "folder"],
                [[r.run_id[:12], r.started[:16].replace("T", " "), commit_label(r.git_commit, r.git_dirty),
                  m.machine_id, m.short, "yes" if r.quick else "no", r.rows, r.source] for r, m in runs],
                title=f"{len(runs)} run(s) in {args.store}  (commit+ = uncommitted changes)", right={6})
    print_lines([f"machine {m.machine_id}: {m.summary}" for m in {m.machine_id: m for _, m in runs}.values()])
    return 0


def _cmd_history(args) -> int:
    from convbench.core.fsutil import write_bytes_atomic
    from convbench.store.history import commit_label, history_png
    from convbench.store.db import connect
    from convbench.store.queries import history
    from convbench.core.tables import print_lines, print_table, ratio_cell

    with connect(args.store) as con:
        h = history(con, args.metric, _filters(args), args.machine)
    steps = h.steps()

    def step(s) -> str:
        return "–" if s.estimate is None else ratio_cell(s.estimate, s.beyond_noise, " beyond noise")

    print_table(["started", "commit", "run", "row", args.metric, "p50 vs previous run"],
                [[run.started, commit_label(run.git_commit, run.git_dirty), run.run_id[:12], res.label,
                  f"{getattr(res, args.metric):.4g}", step(s)] for (run, res), s in zip(h.points, steps)],
                title=f"{args.metric} on machine {h.machine.machine_id}: {h.machine.summary}", right={4, 5})
    judged = [s for s in steps if s.beyond_noise is not None]
    print_lines([f"{sum(s.beyond_noise for s in judged)} of {len(judged)} step(s) beyond noise: the 95 % interval "
                 "of the p50 ratio over both runs' rounds lies beyond the runs' run-to-run spread; ≈: within it"
                 if judged else "no step between two runs benched with --repeat: the steps carry no interval "
                 "(one run's p50 moves by tens of percent on a shared machine)"])
    plot = args.plot or args.store.parent / f"history-{args.metric}-{args.model}-{args.variant}.png"
    write_bytes_atomic(plot, history_png(h))
    notes = [f"plot: {plot}"]
    notes += [f"also stored for machine {m.machine_id} ({m.summary}): pick it with --machine"
              for m in h.other_machines]
    print_lines(notes)
    return 0


def _machine_comparison(args):
    """The runs `machines` compares: the run folders named (through a throwaway store: the same
    validation and run identity as `import`, nothing left behind), or those of --store."""
    import tempfile

    from convbench.core.errors import UserError
    from convbench.store.db import connect, import_runs
    from convbench.store.queries import compare_machines

    if not args.run_dirs:
        with connect(args.store) as con:
            return compare_machines(con, args.runs or [], _filters(args))
    if args.runs:
        raise UserError("machines: name run folders or --runs ID, not both")
    if len(args.run_dirs) < 2:
        raise UserError(f"machines: {args.run_dirs[0]}: name at least two run folders to compare")
    with tempfile.TemporaryDirectory(prefix="convbench-machines-") as tmp:
        store = Path(tmp) / "results.duckdb"
        ids = [done.run_id for done in import_runs(store, args.run_dirs)]
        with connect(store) as con:
            return compare_machines(con, ids, _filters(args))


def _cmd_machines(args) -> int:
    from convbench.store.history import commit_label
    from convbench.core.tables import noise_line, print_lines, print_table, ratio_cell

    c = _machine_comparison(args)
    head = [f"m{i}: machine {m.machine_id} {m.summary}\n    run {r.run_id[:12]} {r.started} commit "
            f"{commit_label(r.git_commit, r.git_dirty)}; roofs {r.roofs}"
            for i, (r, m) in enumerate(c.runs)]
    print_lines(head + ["m1/m0 = p50 on m1 / p50 on m0; roof % = achieved GFLOP/s against that machine's own "
                        "measured roof for the row's thread count"])
    headers = ["row"] + [h for i in range(len(c.runs)) for h in (f"m{i} p50 ms", f"m{i} roof %")
                         ] + [f"m{i}/m0" for i in range(1, len(c.runs))]

    def pct(x):
        return None if x is None else f"{x * 100:.1f}"

    intervals = c.intervals()

    def ratio(r, side, told) -> str:
        estimate, apart = told
        if estimate is None:
            return f"{r.p50_ms / side[0].p50_ms:.2f}x"
        return ratio_cell(estimate, apart)

    rows = [[side[0].label.removeprefix("latency ")]
            + [v for r in side for v in (f"{r.p50_ms:.4f}", pct(r.fraction_of_roof))]
            + [ratio(r, side, told) for r, told in zip(side[1:], per)] for side, per in zip(c.rows, intervals)]
    print_table(headers, rows, right=set(range(1, len(headers))))
    spreads = c.spreads()
    judged = [apart for per in intervals for _, apart in per if apart is not None]
    print_lines([noise_line(judged, spreads)])
    # The rows grouped: does each group move as the machines' roofs say, or not (memory, overhead)?
    print_table(["runtime", "roof precision", "side", "rows", "median p50 ratio", "range", "roofs predict"],
                [[g.runtime, g.precision, f"m{g.side}/m0", str(g.rows), f"{g.median_ratio:.2f}x",
                  f"{g.min_ratio:.2f}-{g.max_ratio:.2f}x", "–" if g.roofs_ratio is None else f"{g.roofs_ratio:.2f}x"]
                 for g in c.groups()],
                title="by runtime and roof precision (roofs predict: the first machine's roof over this one's, "
                      "the ratio if every row kept its efficiency)", right={3, 4, 5, 6})
    if c.serving:   # the Server scenario's highest VALID load of the same file on each machine
        print_table(["row"] + [f"m{i} max QPS" for i in range(len(c.runs))]
                    + [f"m{i}/m0" for i in range(1, len(c.runs))],
                    [[side[0].label.removeprefix("scenario ")] + [f"{r.server_max_qps:.0f}" for r in side]
                     + [f"{r.server_max_qps / side[0].server_max_qps:.2f}x" for r in side[1:]] for side in c.serving],
                    title="serving: the highest offered load within the p99 bound (LoadGen Server, VALID)",
                    right=set(range(1, 2 * len(c.runs))))
    same = len({m.machine_id for _, m in c.runs}) < len(c.runs)
    print_lines([f"{len(c.rows)} row(s) with the same artifact file on every machine; {c.other_artifacts} row(s) "
                 f"whose files differ (not compared); {c.not_everywhere} row(s) not run on every machine"]
                + (["note: some of these runs are from the same machine (same fingerprint): their ratios are "
                    "run-to-run variation, not a difference between machines"] if same else [])
                + [f"note: m{i} and m{j} may be the same machine: all that both record is alike, but one run predates "
                   "convbench recording the CPU's family/model/stepping, so its machine id hashes the CPU flags "
                   "instead" for i, j in c.maybe_same])
    return 0
