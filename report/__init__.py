"""Reports: report.md, report.html, recommendation.json (stage 4; the regression gate is convbench.gate).
Every run is read through convbench.core.records.load_run; nothing here imports TensorFlow.

    build.py        `convbench report RUN`: load the run, build the data model, write the files
    model.py        the data model, built once, in reading order (summary, roofline, notes, details)
    summary.py      the first screen: per device and model, the fp32 baseline, fastest and smallest
    recommend.py    fastest / smallest row within the accuracy budget (recommendation.json)
    significance.py a row's accuracy against fp32's, read with the exact McNemar test (core/stats.py)
    notes.py        the six notes as tables (notes_speed.py: the speed ones)
    details.py      the per-model detail tables, the harness's table, the HTML filters
    columns.py      the detail tables' columns: add a column here, one entry
    table.py        what a table and a cell are
    roofline.py     the Roofs table and the roofline chart's points
    layers.py       per lesson convnet, the per-layer table (fp32 vs int8 time, quantization error)
    post_training.py  TFLite converter vs LiteRT Quantizer, selective float layers, skipped techniques
    charts.py       every chart as typed points, built once; plots.py draws them as PNGs for
                    report.md, vega.py as interactive Vega-Lite for report.html
    lessons.py      the lesson figures from illustrations/*.npz; figures.py what a PNG figure is
    render.py       templates/report.j2 (structure) + markdown.j2 / html.j2 (per-format macros)
    history.py      `convbench history`: a metric over commits from the results store
    rows.py         small lookups over typed rows shared by the above
"""
