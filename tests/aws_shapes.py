"""Walking an AWS API's responses against botocore's model, for the tests that call every operation."""

from __future__ import annotations

from typing import Any

from botocore import xform_name


def missing_required(shape: Any, value: Any, path: str) -> list[str]:
    """Required members absent anywhere in ``value`` (a parsed response), by path."""
    if shape.type_name == "structure":
        found = [f"{path}.{name}" for name in shape.required_members if name not in value]
        for name, member in shape.members.items():
            if name in value:
                found += missing_required(member, value[name], f"{path}.{name}")
        return found
    if shape.type_name == "list":
        return [
            p for i, item in enumerate(value) for p in missing_required(shape.member, item, f"{path}[{i}]")
        ]
    if shape.type_name == "map":
        return [p for k, item in value.items() for p in missing_required(shape.value, item, f"{path}.{k}")]
    return []


def call(client: Any, operation: str, params: dict[str, Any]) -> Any:
    """``operation`` (``DescribeImages``) through a boto3 ``client`` (its ``describe_images``)."""
    return getattr(client, xform_name(operation))(**params)
