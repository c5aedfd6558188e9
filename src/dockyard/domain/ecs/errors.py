"""ECS's client-side errors, named for the exception each is answered with (``http/ecs/errors.py`` maps
them); messages are ECS's own wording where it is known."""

from __future__ import annotations


class EcsError(Exception):
    """A refusal ECS answers with a modeled error; ``str(exc)`` is the message."""


class ClientError(EcsError):
    """``ClientException``: the request cannot be served as asked (invalid definition, unknown revision)."""


class InvalidParameter(EcsError):
    """``InvalidParameterException``."""


class ClusterNotFound(EcsError):
    def __init__(self) -> None:
        super().__init__("Cluster not found.")


class ClusterContainsInstances(EcsError):
    def __init__(self) -> None:
        super().__init__("The Cluster cannot be deleted while Container Instances are active or draining.")


class ClusterContainsTasks(EcsError):
    def __init__(self) -> None:
        super().__init__("The Cluster cannot be deleted while Tasks are active.")


def task_definition_not_found() -> ClientError:
    return ClientError("Unable to describe task definition.")


def invalid_role(role: str) -> ClientError:
    return ClientError(f"Role is not valid: {role}")


def instance_not_found(reference: str) -> InvalidParameter:
    return InvalidParameter(f"The referenced container instance {reference} was not found.")


def task_not_found() -> InvalidParameter:
    return InvalidParameter("The referenced task was not found.")
