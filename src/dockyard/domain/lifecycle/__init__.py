"""ECR lifecycle policies, pure: the policy text parsed and validated (:mod:`.policy`) and evaluated over a
repository's images (:mod:`.evaluate`). No I/O; the use case is :mod:`dockyard.services.lifecycle`."""

from dockyard.domain.lifecycle.evaluate import DEFAULT_ORPHAN_GRACE, Expiry, ImageFacts, evaluate
from dockyard.domain.lifecycle.policy import (
    KEEP_FIELD,
    KeepRule,
    LifecyclePolicyInvalid,
    Policy,
    Rule,
    TagFilter,
    parse_policy,
)

__all__ = [
    "DEFAULT_ORPHAN_GRACE",
    "KEEP_FIELD",
    "Expiry",
    "ImageFacts",
    "KeepRule",
    "LifecyclePolicyInvalid",
    "Policy",
    "Rule",
    "TagFilter",
    "evaluate",
    "parse_policy",
]
