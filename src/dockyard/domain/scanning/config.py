"""Which images are scanned on push: ECR's registry scanning rules and the repository's own ``scanOnPush``.

As in ECR, once an account's registry scanning configuration has rules, they decide for every repository
(the repository-level ``scanOnPush`` is then ignored); without rules, each repository's setting decides.
BASIC scanning takes ``SCAN_ON_PUSH`` and ``MANUAL`` rules; filters are ``WILDCARD`` (``*`` any run).
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.domain.reference import wildcard

BASIC = "BASIC"
ENHANCED = "ENHANCED"
SCAN_ON_PUSH = "SCAN_ON_PUSH"
CONTINUOUS_SCAN = "CONTINUOUS_SCAN"
MANUAL = "MANUAL"
BASIC_FREQUENCIES = (SCAN_ON_PUSH, MANUAL)


class ScanConfigInvalid(Exception):
    def __init__(self, member: str, reason: str) -> None:
        super().__init__(reason)
        self.member = member
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ScanRule:
    frequency: str
    filters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RegistryScanning:
    scan_type: str
    rules: tuple[ScanRule, ...]


@dataclass(frozen=True, slots=True)
class RepositoryScanning:
    """A repository's effective configuration, as BatchGetRepositoryScanningConfiguration shows it."""

    scan_on_push: bool
    frequency: str
    applied_filters: tuple[str, ...]


def parse_rules(scan_type: str, rules: list[dict[str, object]]) -> RegistryScanning:
    """PutRegistryScanningConfiguration's input, checked (botocore's model has checked the shapes)."""
    if scan_type != BASIC:
        raise ScanConfigInvalid("scanType", "only BASIC scanning is available in this registry")
    parsed = []
    for rule in rules:
        frequency = str(rule.get("scanFrequency"))
        if frequency not in BASIC_FREQUENCIES:
            raise ScanConfigInvalid(
                "rules", f"scan frequency {frequency} is not supported with BASIC scanning"
            )
        filters = rule.get("repositoryFilters")
        assert isinstance(filters, list)
        if not filters:
            raise ScanConfigInvalid("rules", "a rule needs at least one repository filter")
        parsed.append(ScanRule(frequency, tuple(str(f["filter"]) for f in filters)))
    if len({r.frequency for r in parsed}) != len(parsed):
        raise ScanConfigInvalid("rules", "each scan frequency may appear in one rule only")
    return RegistryScanning(scan_type, tuple(parsed))


def rules_document(config: RegistryScanning) -> list[dict[str, object]]:
    return [
        {
            "scanFrequency": rule.frequency,
            "repositoryFilters": [{"filter": f, "filterType": "WILDCARD"} for f in rule.filters],
        }
        for rule in config.rules
    ]


def effective(registry: RegistryScanning | None, repository: str, scan_on_push: bool) -> RepositoryScanning:
    if registry is None or not registry.rules:
        return RepositoryScanning(scan_on_push, SCAN_ON_PUSH if scan_on_push else MANUAL, ())
    for rule in registry.rules:
        applied = tuple(f for f in rule.filters if wildcard(f).fullmatch(repository))
        if applied:
            return RepositoryScanning(rule.frequency == SCAN_ON_PUSH, rule.frequency, applied)
    return RepositoryScanning(False, MANUAL, ())
