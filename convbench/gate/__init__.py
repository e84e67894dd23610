"""The regression gate (`convbench compare`, `convbench calibrate-gate`): is a change slower or
less accurate than its base? Above the stages and the results store; the command line (its
options, its commands) is convbench/cli/gate.py, the statistics are convbench/core/stats.py and
the records convbench/core/records/gate.py.

    mode.py          which mode two inputs ask for: two runs, or two manifests (one of each: an error)
    between_runs.py  two runs timed at different times: median per row, one-sided Mann-Whitney U,
                     accuracy per session against the budget
    interleaved.py   the interleaved A/B mode (for CI): both manifests' primary rows timed in one
                     process, decided by the median ABBA block ratio and its bootstrap interval,
                     paired accuracy with McNemar's exact test; gates/<time>/interleaved.json
    abba.py          how the interleaved mode times one row: ABBA rounds of two sessions, same inputs
    calibrate.py     the interleaved mode's A/A false alarms and an injected slowdown (SlowedSession);
                     gates/<time>/calibration.json
    printer.py       the console output of both modes and of the calibration
    checks.py        the one check of each value the gate takes (a UserError naming the option)
"""
