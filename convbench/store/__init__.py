"""The results store: every bench run in one DuckDB file (schema.py, rows.py, db.py, queries.py)."""
