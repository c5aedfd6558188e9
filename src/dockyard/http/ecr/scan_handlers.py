"""ECR's BASIC scanning operations: Put/GetRegistryScanningConfiguration,
BatchGetRepositoryScanningConfiguration, StartImageScan, DescribeImageScanFindings; and the scan summary
DescribeImages adds to each image.

Registered beside :class:`~dockyard.http.ecr.handlers.EcrHandlers`' operations (same rate limit and
authorization); parameters arrive validated against botocore's model, outputs are shaped by it.
"""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.domain.scanning.config import BASIC, RepositoryScanning, rules_document
from dockyard.http.ecr.auth import EcrCaller
from dockyard.http.ecr.handlers import Operation, Output, Params
from dockyard.services.ecr import RegistryRef
from dockyard.services.ecr_types import EcrRepository, ImageId, ImageRow
from dockyard.services.scan_types import FindingsPage, ScanStatus, ScanSummary
from dockyard.services.scanning import Scanning


def _registry(caller: EcrCaller, params: Params) -> RegistryRef:
    return RegistryRef(caller.account, params.get("registryId"))


def _image_id(params: Params) -> ImageId:
    given = params["imageId"]
    return ImageId(given.get("imageDigest"), given.get("imageTag"))


def _status(status: ScanStatus) -> Output:
    return {"status": status.status, "description": status.description}


class ScanHandlers:
    def __init__(self, scanning: Scanning) -> None:
        self.scanning = scanning

    def operations(self) -> dict[str, Operation]:
        return {
            "PutRegistryScanningConfiguration": Operation(self.put_registry, "registry"),
            "GetRegistryScanningConfiguration": Operation(self.get_registry, "registry"),
            "BatchGetRepositoryScanningConfiguration": Operation(self.batch_get, "repositories"),
            "StartImageScan": Operation(self.start, "repository"),
            "DescribeImageScanFindings": Operation(self.findings, "repository"),
        }

    async def put_registry(self, caller: EcrCaller, params: Params) -> Output:
        config = await self.scanning.put_registry_configuration(
            caller.account, params.get("scanType"), params.get("rules", [])
        )
        shown = {"scanType": config.scan_type, "rules": rules_document(config)}
        return {"registryScanningConfiguration": shown}

    async def get_registry(self, caller: EcrCaller, params: Params) -> Output:
        config = await self.scanning.registry_configuration(caller.account)
        shown = (
            {"scanType": BASIC, "rules": []}
            if config is None
            else {
                "scanType": config.scan_type,
                "rules": rules_document(config),
            }
        )
        return {"registryId": caller.account, "scanningConfiguration": shown}

    async def batch_get(self, caller: EcrCaller, params: Params) -> Output:
        found, missing = await self.scanning.repository_configurations(
            _registry(caller, params), params["repositoryNames"]
        )
        failures = [
            {
                "repositoryName": name,
                "failureCode": "REPOSITORY_NOT_FOUND",
                "failureReason": "REPOSITORY_NOT_FOUND",
            }
            for name in missing
        ]
        return {"scanningConfigurations": [self._config(r, c) for r, c in found], "failures": failures}

    def _config(self, repository: EcrRepository, config: RepositoryScanning) -> Output:
        return {
            "repositoryArn": self.scanning.repositories.arn(repository.account_id, repository.name),
            "repositoryName": repository.name,
            "scanOnPush": config.scan_on_push,
            "scanFrequency": config.frequency,
            "appliedScanFilters": [{"filter": f, "filterType": "WILDCARD"} for f in config.applied_filters],
        }

    async def start(self, caller: EcrCaller, params: Params) -> Output:
        found, image_id, status = await self.scanning.start(
            params["repositoryName"], _registry(caller, params), _image_id(params)
        )
        return {
            "registryId": found.account_id,
            "repositoryName": found.name,
            "imageId": {"imageDigest": image_id.digest, "imageTag": image_id.tag},
            "imageScanStatus": _status(status),
        }

    async def findings(self, caller: EcrCaller, params: Params) -> Output:
        found, page = await self.scanning.findings(
            params["repositoryName"],
            _registry(caller, params),
            _image_id(params),
            params.get("nextToken"),
            params.get("maxResults"),
        )
        return {
            "registryId": found.account_id,
            "repositoryName": found.name,
            "imageId": {"imageDigest": page.image_id.digest, "imageTag": page.image_id.tag},
            "imageScanStatus": _status(page.status),
            "imageScanFindings": _findings(page) if page.complete else None,
            "nextToken": page.next_token,
        }

    async def image_details(self, rows: Sequence[ImageRow]) -> dict[str, Output]:
        """DescribeImages' ``imageScanStatus``/``imageScanFindingsSummary`` per image digest."""
        summaries = await self.scanning.summaries(rows)
        return {row.digest: _summary(summaries[row.id]) for row in rows if row.id in summaries}


def _findings(page: FindingsPage) -> Output:
    return {
        "imageScanCompletedAt": page.completed_at,
        "vulnerabilitySourceUpdatedAt": page.source_updated_at,
        "findingSeverityCounts": page.counts,
        "findings": [
            {
                "name": f.name,
                "description": f.description,
                "uri": f.uri,
                "severity": f.severity,
                "attributes": [{"key": k, "value": v} for k, v in f.attributes],
            }
            for f in page.findings
        ],
    }


def _summary(summary: ScanSummary) -> Output:
    shown: Output = {"imageScanStatus": _status(summary.status)}
    if summary.completed_at is not None:
        shown["imageScanFindingsSummary"] = {
            "imageScanCompletedAt": summary.completed_at,
            "vulnerabilitySourceUpdatedAt": summary.source_updated_at,
            "findingSeverityCounts": summary.counts,
        }
    return shown
