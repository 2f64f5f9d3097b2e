"""pytest-openwhisk: serverless benchmarks as pytest tests for Apache OpenWhisk."""

__version__ = "0.1.0"
__all__ = ["__version__"]
