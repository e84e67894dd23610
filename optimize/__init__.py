"""Compression techniques -> deployable, verified TFLite/ONNX artifacts + one manifest (stage 2)."""
