"""convbench: the Kaggle Computer Vision lesson convnets, trained once, compressed, benchmarked."""

__version__ = "0.1.0"
