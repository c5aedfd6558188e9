"""Findings as ECR's BASIC scanning reports them, and the severity order."""

from __future__ import annotations

from dataclasses import dataclass

INFORMATIONAL = "INFORMATIONAL"
LOW = "LOW"
MEDIUM = "MEDIUM"
HIGH = "HIGH"
CRITICAL = "CRITICAL"
UNDEFINED = "UNDEFINED"
SEVERITIES = (CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNDEFINED)  # most severe first


def severity_from_cvss(score: float | None) -> str:
    """CVSS v3 qualitative rating (NVD's bands), as ECR maps scores to severities."""
    if score is None:
        return UNDEFINED
    if score >= 9.0:
        return CRITICAL
    if score >= 7.0:
        return HIGH
    if score >= 4.0:
        return MEDIUM
    if score > 0.0:
        return LOW
    return INFORMATIONAL


@dataclass(frozen=True, slots=True)
class Finding:
    """One advisory that affects one package of an image.

    ``name`` is the vulnerability's id as ECR shows it (a CVE id where the advisory has one as id or
    alias, else the advisory's own id); ``attributes`` are ECR's ``key``/``value`` pairs in order:
    ``package_name``, ``package_version``, ``fixed_in_version`` (when known), ``CVSS3_SCORE``,
    ``CVSS3_VECTOR``, ``CVSS2_SCORE``, ``CVSS2_VECTOR`` (when known), ``advisory_id``, ``purl``.
    """

    name: str
    description: str
    uri: str
    severity: str
    attributes: tuple[tuple[str, str], ...]
