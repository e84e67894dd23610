"""Reports (report.md, report.html, recommendation.json) and the regression gate (stage 4).
Every run is read through convbench.records.load_run; nothing here imports TensorFlow.

    build.py      `convbench report RUN`: load the run, build the data model, write the files
    model.py      the data model, built once (provenance, recommendation, notes, figures, tables)
    columns.py    the per-model table's columns: add a column here, one entry
    table.py      what a rendered table is (cells with their sort keys)
    post_training.py  TFLite converter vs LiteRT Quantizer, selective float layers, skipped techniques
    recommend.py  fastest / smallest row within the accuracy budget (recommendation.json)
    notes.py      the six notes: textbook claim vs this run's measurements
    plots.py      charts of the run's rows; lessons.py the lesson figures from illustrations/*.npz
    figures.py    what a figure is (PNG or why it is missing) and the one PNG helper
    render.py     templates/report.j2 (structure) + markdown.j2 / html.j2 (per-format macros)
    compare.py    `convbench compare BASELINE NEW`: the regression gate
    rows.py       small lookups over typed rows shared by the above
"""
