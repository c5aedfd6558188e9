"""Pure domain: references, digests, manifests. No I/O, no HTTP, no database."""
