"""ECR lifecycle policies: the JSON text parsed into rules, validated as ECR validates it.

A policy is ``{"rules": [rule, ...]}`` with 1 to 50 rules; each rule is::

    {"rulePriority": 1, "description": "...",
     "selection": {"tagStatus": "tagged" | "untagged" | "any",
                   "tagPrefixList": [...] | "tagPatternList": [...],      (tagged only; exactly one of them)
                   "countType": "imageCountMoreThan" | "sinceImagePushed" | "sinceImagePulled",
                   "countUnit": "days",                                   (the two "since" types only)
                   "countNumber": 1..},
     "action": {"type": "expire"}}

ECR's constraints: unique priorities; a ``tagStatus: any`` rule has the highest priority number; at most one
rule selects ``untagged``; at most four ``*`` per pattern; text of 100 to 30,720 characters. The archive
tier (``transition`` actions, ``storageClass``, ``sinceImageTransitioned``) is refused: Dockyard has none.

**Dockyard extension** (accepted only when the server enables it, ``lifecycle_keep_rules``): a top-level
``"dockyardKeepRules"`` list of ``{"description"?, "tagPrefixList"? | "tagPatternList"?,
"pulledWithinDays"?}``. An image a keep rule matches (all of its conditions) is never expired by any rule
of the policy; it still counts in every rule's window.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

MIN_TEXT, MAX_TEXT = 100, 30_720
MAX_RULES = 50
MAX_WILDCARDS = 4
KEEP_FIELD = "dockyardKeepRules"
TagStatus = Literal["tagged", "untagged", "any"]
CountType = Literal["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled"]
_TAG_STATUSES = ("tagged", "untagged", "any")
_COUNT_TYPES = ("imageCountMoreThan", "sinceImagePushed", "sinceImagePulled")
_ARCHIVE = "the archive storage class is not supported by Dockyard"
_RULE_FIELDS = {"rulePriority", "description", "selection", "action"}
_SELECTION_FIELDS = {"tagStatus", "tagPrefixList", "tagPatternList", "countType", "countUnit", "countNumber"}
_KEEP_FIELDS = {"description", "tagPrefixList", "tagPatternList", "pulledWithinDays"}


class LifecyclePolicyInvalid(Exception):
    """The policy text breaks one of ECR's rules; ``detail`` says which, in ECR's words where it has them."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
            f"'Lifecycle policy validation failure: {detail}'"
        )
        self.detail = detail

    @property
    def text(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class TagFilter:
    """Tag prefixes or wildcard patterns; an image matches when every entry matches one of its tags."""

    prefixes: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    def compiled(self) -> tuple[re.Pattern[str], ...]:
        prefixes = [re.compile(re.escape(p)) for p in self.prefixes]
        patterns = [
            re.compile(".*".join(re.escape(part) for part in p.split("*")) + r"\Z") for p in self.patterns
        ]
        return tuple(prefixes + patterns)

    def __bool__(self) -> bool:
        return bool(self.prefixes or self.patterns)


@dataclass(frozen=True, slots=True)
class Rule:
    priority: int
    tag_status: TagStatus
    tags: TagFilter
    count_type: CountType
    count_number: int
    description: str | None = None


@dataclass(frozen=True, slots=True)
class KeepRule:
    """Dockyard's extension: protect images matching ``tags`` (if any) and pulled within
    ``pulled_within_days`` (if set)."""

    tags: TagFilter
    pulled_within_days: int | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    rules: tuple[Rule, ...]  # ascending priority
    keep: tuple[KeepRule, ...] = ()


def parse_policy(text: str, *, allow_keep_rules: bool = False) -> Policy:
    """The policy ``text`` describes; :class:`LifecyclePolicyInvalid` when ECR would refuse it (and when it
    uses the keep-rule extension without ``allow_keep_rules``)."""
    if not MIN_TEXT <= len(text) <= MAX_TEXT:
        raise LifecyclePolicyInvalid(f"policy text must be {MIN_TEXT} to {MAX_TEXT} characters long")
    try:
        document = json.loads(text)
    except ValueError:
        raise LifecyclePolicyInvalid("policy text is not valid JSON") from None
    if not isinstance(document, dict):
        raise LifecyclePolicyInvalid("policy must be a JSON object")
    unknown = set(document) - {"rules", KEEP_FIELD}
    if unknown:
        raise LifecyclePolicyInvalid(
            f"object instance has properties which are not allowed ({sorted(unknown)})"
        )
    if KEEP_FIELD in document and not allow_keep_rules:
        raise LifecyclePolicyInvalid(
            f'"{KEEP_FIELD}" is a Dockyard extension that this server does not enable (lifecycle_keep_rules)'
        )
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise LifecyclePolicyInvalid('object has missing required properties (["rules"])')
    if len(raw_rules) > MAX_RULES:
        raise LifecyclePolicyInvalid(f"a lifecycle policy can have at most {MAX_RULES} rules")
    rules = tuple(sorted((_rule(raw) for raw in raw_rules), key=lambda r: r.priority))
    _check_rule_set(rules)
    keep = tuple(_keep_rule(raw) for raw in _list(document.get(KEEP_FIELD, []), KEEP_FIELD))
    return Policy(rules, keep)


def _check_rule_set(rules: tuple[Rule, ...]) -> None:
    priorities = [r.priority for r in rules]
    if len(set(priorities)) != len(priorities):
        raise LifecyclePolicyInvalid("rulePriority must be unique across rules")
    if any(r.tag_status == "any" for r in rules[:-1]):
        raise LifecyclePolicyInvalid(
            "the rule with tagStatus 'any' must have the highest value for rulePriority"
        )
    if sum(r.tag_status == "untagged" for r in rules) > 1:
        raise LifecyclePolicyInvalid("only one rule can select untagged images (tagStatus 'untagged')")


def _rule(raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise LifecyclePolicyInvalid("each rule must be a JSON object")
    _no_unknown(raw, _RULE_FIELDS, "rule")
    missing = [k for k in ("rulePriority", "selection", "action") if k not in raw]
    if missing:
        raise LifecyclePolicyInvalid(f"object has missing required properties ({json.dumps(missing)})")
    priority = raw["rulePriority"]
    if not _is_int(priority) or priority < 1:
        raise LifecyclePolicyInvalid("rulePriority must be an integer of at least 1")
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise LifecyclePolicyInvalid("description must be a string")
    _check_action(raw["action"])
    return _selection(raw["selection"], priority, description)


def _check_action(action: Any) -> None:
    if not isinstance(action, dict) or "type" not in action:
        raise LifecyclePolicyInvalid('object has missing required properties (["type"])')
    if action["type"] == "transition" or "targetStorageClass" in action:
        raise LifecyclePolicyInvalid(f"action 'transition': {_ARCHIVE}")
    _no_unknown(action, {"type"}, "action")
    if action["type"] != "expire":
        raise LifecyclePolicyInvalid(f"action type '{action['type']}' is not one of ['expire']")


def _selection(selection: Any, priority: int, description: str | None) -> Rule:
    if not isinstance(selection, dict):
        raise LifecyclePolicyInvalid("selection must be a JSON object")
    if "storageClass" in selection:
        raise LifecyclePolicyInvalid(f"selection 'storageClass': {_ARCHIVE}")
    if selection.get("countType") == "sinceImageTransitioned":
        raise LifecyclePolicyInvalid(f"countType 'sinceImageTransitioned': {_ARCHIVE}")
    _no_unknown(selection, _SELECTION_FIELDS, "selection")
    missing = [k for k in ("tagStatus", "countType", "countNumber") if k not in selection]
    if missing:
        raise LifecyclePolicyInvalid(f"object has missing required properties ({json.dumps(missing)})")
    status = selection["tagStatus"]
    if status not in _TAG_STATUSES:
        raise LifecyclePolicyInvalid(f"tagStatus '{status}' is not one of {list(_TAG_STATUSES)}")
    tags = _tag_filter(selection)
    if status == "tagged" and not tags:
        raise LifecyclePolicyInvalid("tagPrefixList or tagPatternList is required when tagStatus is 'tagged'")
    if status != "tagged" and tags:
        raise LifecyclePolicyInvalid(
            f"tagPrefixList and tagPatternList are not allowed with tagStatus '{status}'"
        )
    count_type, number = selection["countType"], selection["countNumber"]
    if count_type not in _COUNT_TYPES:
        raise LifecyclePolicyInvalid(f"countType '{count_type}' is not one of {list(_COUNT_TYPES)}")
    if not _is_int(number) or number < 1:
        raise LifecyclePolicyInvalid("countNumber must be an integer of at least 1")
    unit = selection.get("countUnit")
    if count_type == "imageCountMoreThan" and unit is not None:
        raise LifecyclePolicyInvalid("countUnit is not allowed when countType is 'imageCountMoreThan'")
    if count_type != "imageCountMoreThan" and unit != "days":
        raise LifecyclePolicyInvalid(f"countUnit must be 'days' when countType is '{count_type}'")
    return Rule(priority, status, tags, count_type, number, description)


def _tag_filter(raw: dict[str, Any]) -> TagFilter:
    if "tagPrefixList" in raw and "tagPatternList" in raw:
        raise LifecyclePolicyInvalid("tagPrefixList and tagPatternList cannot both be specified")
    prefixes = _strings(raw.get("tagPrefixList", []), "tagPrefixList")
    patterns = _strings(raw.get("tagPatternList", []), "tagPatternList")
    for pattern in patterns:
        if pattern.count("*") > MAX_WILDCARDS:
            raise LifecyclePolicyInvalid(
                f"tagPatternList entry '{pattern}' has more than {MAX_WILDCARDS} wildcards (*)"
            )
    return TagFilter(prefixes, patterns)


def _keep_rule(raw: Any) -> KeepRule:
    if not isinstance(raw, dict):
        raise LifecyclePolicyInvalid(f"each entry of {KEEP_FIELD} must be a JSON object")
    _no_unknown(raw, _KEEP_FIELDS, KEEP_FIELD)
    tags = _tag_filter(raw)
    days = raw.get("pulledWithinDays")
    if days is not None and (not _is_int(days) or days < 1):
        raise LifecyclePolicyInvalid("pulledWithinDays must be an integer of at least 1")
    if not tags and days is None:
        raise LifecyclePolicyInvalid(
            f"each entry of {KEEP_FIELD} needs tagPrefixList, tagPatternList or pulledWithinDays"
        )
    description = raw.get("description")
    return KeepRule(tags, days, description if isinstance(description, str) else None)


def _strings(value: Any, name: str) -> tuple[str, ...]:
    items = _list(value, name)
    if not all(isinstance(v, str) and v for v in items):
        raise LifecyclePolicyInvalid(f"{name} entries must be non-empty strings")
    return tuple(items)


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise LifecyclePolicyInvalid(f"{name} must be a list")
    return value


def _no_unknown(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise LifecyclePolicyInvalid(
            f"{where}: object instance has properties which are not allowed ({sorted(unknown)})"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
