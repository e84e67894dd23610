"""Reports (report.md, report.html, recommendation.json) and the regression gate (stage 4).
Every run is read through convbench.records.load_run; nothing here imports TensorFlow.

    build.py        `convbench report RUN`: load the run, build the data model, write the files
    model.py        the data model, built once, in reading order (summary, roofline, notes, details)
    summary.py      the first screen: per device and model, the fp32 baseline, fastest and smallest
    recommend.py    fastest / smallest row within the accuracy budget (recommendation.json)
    significance.py exact McNemar test of a row's accuracy against fp32's
    notes.py        the six notes as tables (notes_speed.py: the speed ones)
    details.py      the per-model detail tables, the harness's table, the HTML filters
    columns.py      the detail tables' columns: add a column here, one entry
    table.py        what a table and a cell are
    charts.py       every chart as typed points, built once; plots.py draws them as PNGs for
                    report.md, vega.py as interactive Vega-Lite for report.html
    lessons.py      the lesson figures from illustrations/*.npz; figures.py what a PNG figure is
    render.py       templates/report.j2 (structure) + markdown.j2 / html.j2 (per-format macros)
    compare.py      `convbench compare BASELINE NEW`: the regression gate
    rows.py         small lookups over typed rows shared by the above
"""
