"""Dockyard: an OCI registry with the Amazon ECR control plane."""

__version__ = "0.1.0"
