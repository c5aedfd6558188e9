"""The OCI Distribution v1.1 API on ``/v2/``."""
