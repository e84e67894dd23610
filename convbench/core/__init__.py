"""The floor every stage shares: typed records, the runtime interface, formats, files, locks,
fingerprints, the quiet console. It imports no stage (models, optimize, benchmarks, report) and
nothing that sits on top of them (cli, gate, store, tracking); `make test` checks it."""
