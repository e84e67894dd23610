"""The console summary of an optimize run: one table per lesson convnet, failures last."""

from __future__ import annotations


def print_summary(manifest: dict) -> list[dict]:
    """Print the table; return the failed rows (the caller turns them into the exit code)."""
    rows = manifest["artifacts"]
    failed = [r for r in rows if r.get("error")]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        fp32 = next(r["accuracy"] for r in mine if r["variant"] == "keras_fp32")
        print(f"\n{model} (fp32 Keras accuracy {fp32:.2%})")
        print(f"  {'variant':20s} {'format':16s} {'accuracy':>8s} {'vs fp32':>8s} {'agree':>6s} "
              f"{'KiB':>7s} {'gzip KiB':>8s} {'sparsity':>8s}")
        for r in mine:
            if r["variant"] == "keras_fp32":
                continue
            if r.get("error"):
                print(f"  {r['variant']:20s} {r['format']:16s} FAILED")
                continue
            print(f"  {r['variant']:20s} {r['format']:16s} {r['accuracy']:8.2%} "
                  f"{(r['accuracy'] - fp32) * 100:+7.1f}pp {r['agreement_vs_fp32']:6.1%} "
                  f"{r['bytes'] / 1024:7.0f} {r['gzip_bytes'] / 1024:8.0f} {r['sparsity']:8.1%}")
    print(f"\n{len(rows) - len(failed)} artifacts verified in their runtimes, {len(failed)} failed"
          f" ({manifest['optimize_seconds']:.0f} s)")
    for r in failed:
        print(f"  FAILED {r['model']}/{r['variant']}/{r['format']}: {r['error']}")
    return failed
