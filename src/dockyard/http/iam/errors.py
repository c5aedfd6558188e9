"""The one table per wire format from identity domain errors to AWS error codes and statuses."""

from __future__ import annotations

from dockyard.domain.iam.errors import MalformedPolicyDocument
from dockyard.domain.identity import (
    AccessDenied,
    DeleteConflict,
    EntityAlreadyExists,
    ExpiredToken,
    InvalidIdentityToken,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
)
from dockyard.http.aws.errors import DomainTable

IAM_ERRORS: DomainTable = {
    NoSuchEntity: ("NoSuchEntity", 404),
    EntityAlreadyExists: ("EntityAlreadyExists", 409),
    DeleteConflict: ("DeleteConflict", 409),
    LimitExceeded: ("LimitExceeded", 409),
    InvalidInput: ("InvalidInput", 400),
    AccessDenied: ("AccessDenied", 403),
    MalformedPolicyDocument: ("MalformedPolicyDocument", 400),
}

STS_ERRORS: DomainTable = {
    AccessDenied: ("AccessDenied", 403),
    InvalidInput: ("ValidationError", 400),
    LimitExceeded: ("ValidationError", 400),
    MalformedPolicyDocument: ("MalformedPolicyDocument", 400),
    InvalidIdentityToken: ("InvalidIdentityToken", 400),
    ExpiredToken: ("ExpiredTokenException", 400),
}
