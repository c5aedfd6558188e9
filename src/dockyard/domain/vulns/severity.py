"""An advisory's CVSS scores and its severity in ECR's levels (:mod:`dockyard.domain.scanning.findings`).

The level comes from the first of: a CVSS v3 vector's base score, a CVSS v4 vector's base score (both
scored by the ``cvss`` package, NVD's bands), the database's own word (GHSA's ``MODERATE``, Ubuntu's
priority ``medium``, Red Hat's ``Important``, Debian's urgency ``unimportant``), a CVSS v2 vector's base
score (NVD's v2 bands), else ``UNDEFINED``. A vector that does not parse is ignored, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cvss  # type: ignore[import-untyped]

from dockyard.domain.scanning.findings import (
    CRITICAL,
    HIGH,
    INFORMATIONAL,
    LOW,
    MEDIUM,
    UNDEFINED,
    severity_from_cvss,
)
from dockyard.domain.vulns.osv import Severity

VECTOR_CACHE = 8192  # scoring a vector takes ~0.1 ms; advisories share a few thousand vectors
WORDS = {
    "critical": CRITICAL,
    "high": HIGH,
    "important": HIGH,
    "moderate": MEDIUM,
    "medium": MEDIUM,
    "low": LOW,
    "negligible": INFORMATIONAL,
    "unimportant": INFORMATIONAL,
    "informational": INFORMATIONAL,
    "info": INFORMATIONAL,
    "none": INFORMATIONAL,
}

Scorer = Callable[[str], "tuple[float, str] | None"]


@dataclass(frozen=True, slots=True)
class CvssScores:
    cvss3_score: float | None = None
    cvss3_vector: str | None = None
    cvss4_score: float | None = None
    cvss4_vector: str | None = None
    cvss2_score: float | None = None
    cvss2_vector: str | None = None


def cvss_scores(severities: Sequence[Severity]) -> CvssScores:
    """The base score and vector of the first parseable CVSS v3, v4 and v2 vector of each version."""
    v3 = _first(severities, "CVSS_V3", _score_v3)
    v4 = _first(severities, "CVSS_V4", _score_v4)
    v2 = _first(severities, "CVSS_V2", _score_v2)
    return CvssScores(
        cvss3_score=v3[0] if v3 else None,
        cvss3_vector=v3[1] if v3 else None,
        cvss4_score=v4[0] if v4 else None,
        cvss4_vector=v4[1] if v4 else None,
        cvss2_score=v2[0] if v2 else None,
        cvss2_vector=v2[1] if v2 else None,
    )


def word_severity(word: str) -> str | None:
    """A database's severity word as an ECR level; ``None`` for words that say nothing (``untriaged``)."""
    return WORDS.get(word.strip().lower())


def severity_level(scores: CvssScores, words: Sequence[str]) -> str:
    if scores.cvss3_score is not None:
        return severity_from_cvss(scores.cvss3_score)
    if scores.cvss4_score is not None:
        return severity_from_cvss(scores.cvss4_score)
    for word in words:
        level = word_severity(word)
        if level is not None:
            return level
    if scores.cvss2_score is not None:
        return _v2_level(scores.cvss2_score)
    return UNDEFINED


def _v2_level(score: float) -> str:
    """NVD's CVSS v2 bands: there is no v2 "critical"."""
    if score >= 7.0:
        return HIGH
    return MEDIUM if score >= 4.0 else LOW


def _first(severities: Sequence[Severity], kind: str, score: Scorer) -> tuple[float, str] | None:
    for severity in severities:
        if severity.type == kind:
            scored = score(severity.score)
            if scored is not None:
                return scored
    return None


@lru_cache(maxsize=VECTOR_CACHE)
def _score_v3(vector: str) -> tuple[float, str] | None:
    try:
        parsed = cvss.CVSS3(vector.strip())
        return float(parsed.scores()[0]), parsed.clean_vector()
    except (cvss.CVSSError, ValueError, KeyError):
        return None


@lru_cache(maxsize=VECTOR_CACHE)
def _score_v4(vector: str) -> tuple[float, str] | None:
    try:
        parsed = cvss.CVSS4(vector.strip())
        return float(parsed.base_score), parsed.clean_vector()
    except (cvss.CVSSError, ValueError, KeyError):
        return None


@lru_cache(maxsize=VECTOR_CACHE)
def _score_v2(vector: str) -> tuple[float, str] | None:
    text = vector.strip().strip("()").removeprefix("CVSS:2.0/")
    try:
        parsed = cvss.CVSS2(text)
        return float(parsed.scores()[0]), parsed.clean_vector()
    except (cvss.CVSSError, ValueError, KeyError):
        return None
