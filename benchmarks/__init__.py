"""Benchmarks: runtimes that execute artifacts, latency statistics, peak memory, machine facts."""
