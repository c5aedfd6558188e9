"""Errors of the IAM policy language.

Each carries the exact text AWS IAM answers with (``message``) and, separately, a precise diagnostic
(``reason``) for logs and tests: AWS says only "Syntax errors in policy." for a dozen different faults.
"""

from __future__ import annotations

from dockyard.domain.errors import RegistryError

# The texts IAM sends back in a MalformedPolicyDocument error.
SYNTAX_ERRORS = "Syntax errors in policy."
VERSION_TOO_OLD = "Policy document must be version 2012-10-17 or greater."
LEGACY_PARSING = "The policy failed legacy parsing"
DUPLICATE_SID = "Statement IDs (SID) in a single policy must be unique."
MISSING_ACTIONS = "Policy statement must contain actions."
MISSING_RESOURCES = "Policy statement must contain resources."
MISSING_PRINCIPAL = "Missing required field Principal"
PRINCIPAL_FORBIDDEN = "Policy document should not specify a principal."
RESOURCE_FORBIDDEN = "Has prohibited field Resource."
ACTION_VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
ACTION_COLONS = "Actions/Condition can contain only one colon."
RESOURCE_VENDOR = "Resource vendor must be fully qualified and cannot contain regexes."
TRUST_ACTIONS = (
    "Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and "
    "sts:AssumeRoleWithWebIdentity"
)


class IamError(RegistryError):
    """Base of the IAM domain's errors."""

    message = "IAM error"


class MalformedPolicyDocument(IamError):
    """A policy document that IAM would refuse to store.

    ``str(error)`` is AWS's wording; ``error.reason`` names the offending field or value.
    """

    message = SYNTAX_ERRORS

    def __init__(self, message: str | None = None, *, reason: str | None = None) -> None:
        text = message or self.message
        super().__init__(text, reason=reason or text)
        self.reason: str = reason or text


class AccessDenied(IamError):
    """A request the evaluation denied; the text is AWS's (``Decision.message_for(context)``)."""

    message = "Access denied"
