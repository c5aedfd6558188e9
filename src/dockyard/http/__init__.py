"""Wire formats. Each sub-package parses requests, calls services and maps domain errors in one table."""
