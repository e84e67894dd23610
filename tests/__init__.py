"""convbench's tests. A package, so that `tests.support` imports the same way under pytest's
--import-mode=importlib whether pytest is started as `python -m pytest` or as `pytest`."""
