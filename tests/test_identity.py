"""A row's identity (RowId): one spelling for the matrix, results, store, gate and report."""

from convbench.core.records.identity import RowId, threads_label


def row(**kw) -> RowId:
    return RowId(**{"kind": "latency", "model": "m", "variant": "v", "format": "tflite_int8", "runtime": "litert",
                    "device": "cpu", "batch": 8, "threads": "2", **kw})


def test_labels_name_every_coordinate_a_row_has():
    assert row().label == "m/v/tflite_int8 litert cpu b8 t2"
    assert row(kind="audit", metric="caching").label == "caching m/v/tflite_int8 litert cpu b8 t2"
    assert row(kind="scaling_latency", side=64).label == "m/v/tflite_int8 64px litert cpu b8 t2"
    assert row().any_batch().label == "m/v/tflite_int8 litert cpu t2"
    assert threads_label(None) == "auto" and threads_label(1) == "1"


def test_the_store_key_tells_apart_rows_that_differ_in_one_coordinate():
    rows = [row(), row(batch=1), row(threads="auto"), row(kind="memory"), row(kind="audit", metric="caching"),
            row(kind="audit", metric="harness_overhead"), row(kind="scaling_latency", side=28),
            row(kind="scaling_latency", side=64), row().any_batch()]
    assert len({r.text for r in rows}) == len(rows) == len(set(rows))
    assert row().any_batch() == row(batch=32).any_batch()
