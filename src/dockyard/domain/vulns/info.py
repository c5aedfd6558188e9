"""What an ECR finding shows of an advisory: its name, description, link, severity and CVSS scores.

Computed once when the advisory is imported and stored beside it, so a scan's findings are a plain read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.domain.vulns.osv import Advisory
from dockyard.domain.vulns.severity import cvss_scores, severity_level

OSV_URL = "https://osv.dev/vulnerability/"
MAX_DESCRIPTION = 4000
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_EMBEDDED_CVE = re.compile(r"^[A-Z]+-(CVE-\d{4}-\d{4,})$")  # UBUNTU-CVE-2019-3462, DEBIAN-CVE-...


@dataclass(frozen=True, slots=True)
class AdvisoryInfo:
    id: str
    name: str
    description: str
    uri: str
    severity: str
    cvss3_score: float | None = None
    cvss3_vector: str | None = None
    cvss2_score: float | None = None
    cvss2_vector: str | None = None


def describe(advisory: Advisory) -> AdvisoryInfo:
    scores = cvss_scores(advisory.severity)
    return AdvisoryInfo(
        id=advisory.id,
        name=display_name(advisory),
        description=description(advisory),
        uri=advisory_uri(advisory),
        severity=severity_level(scores, advisory.severity_words),
        cvss3_score=scores.cvss3_score,
        cvss3_vector=scores.cvss3_vector,
        cvss2_score=scores.cvss2_score,
        cvss2_vector=scores.cvss2_vector,
    )


def display_name(advisory: Advisory) -> str:
    """The CVE id when the advisory is one, or an alias or upstream id is one (``UBUNTU-CVE-2019-3462``
    counts as ``CVE-2019-3462``; the first listed wins); else the advisory's own id."""
    for candidate in (advisory.id, *advisory.aliases, *advisory.upstream):
        if _CVE.match(candidate):
            return candidate
        embedded = _EMBEDDED_CVE.match(candidate)
        if embedded and candidate != advisory.id:
            return embedded.group(1)
    return advisory.id


def description(advisory: Advisory) -> str:
    """The summary, else the details; surrounding white space trimmed, at most MAX_DESCRIPTION characters."""
    text = (advisory.summary.strip() or advisory.details.strip()).strip()
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1].rstrip() + "\u2026"


def advisory_uri(advisory: Advisory) -> str:
    """The record's ADVISORY reference, else its database's page (``database_specific.url``), else a WEB
    reference, else the advisory's page on osv.dev."""
    found = [reference.url for reference in advisory.references if reference.type == "ADVISORY"]
    if advisory.database_url:
        found.append(advisory.database_url)
    found += [reference.url for reference in advisory.references if reference.type == "WEB"]
    return found[0] if found else OSV_URL + advisory.id
