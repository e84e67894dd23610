"""Data, the lesson convnets, and training them once (the first stage: models -> optimize -> benchmarks -> report)."""
