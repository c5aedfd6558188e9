"""Benchmarks: Dockyard against CNCF Distribution (Debian's docker-registry), side by side."""
