"""stagebench: data-staging throughput benchmark for ML training on S3."""

__version__ = "0.1.0"
