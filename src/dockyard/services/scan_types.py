"""Image scanning's errors and results, as the ECR wire layer shows them (``http/ecr/errors.py`` maps the
errors to ECR's exception names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dockyard.domain.scanning.findings import Finding
from dockyard.services.ecr_types import EcrError, ImageId


class ScanNotFound(EcrError):
    message = "Image scan does not exist"


class UnsupportedImageType(EcrError):
    message = "The image type is not supported for scanning"


class ScanLimitExceeded(EcrError):
    message = "The scan quota per image has been exceeded. Wait and try again."


@dataclass(frozen=True, slots=True)
class ScanStatus:
    status: str
    description: str | None


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """DescribeImages' ``imageScanStatus`` and ``imageScanFindingsSummary`` of one image."""

    status: ScanStatus
    completed_at: datetime | None = None
    source_updated_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FindingsPage:
    image_id: ImageId
    status: ScanStatus
    completed_at: datetime | None
    source_updated_at: datetime | None
    counts: dict[str, int]
    findings: list[Finding]
    next_token: str | None
    complete: bool
