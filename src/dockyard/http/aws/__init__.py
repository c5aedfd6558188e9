"""The AWS protocol layer shared by every AWS-style API Dockyard serves (ECR, IAM, STS, ECS, Logs).

Driven by botocore's own service models: :mod:`.model` (loading, validation), :mod:`.json_protocol`
(AWS JSON 1.1), :mod:`.query_protocol` (AWS Query), :mod:`.sigv4` (Signature Version 4 verification)
and :mod:`.endpoint` (the ASGI endpoint gluing them to operation handlers).
"""

from __future__ import annotations

from dockyard.http.aws.endpoint import AwsEndpoint, Handler
from dockyard.http.aws.errors import AwsError, Fault, ProtocolError, SignatureError
from dockyard.http.aws.model import ParamValidationError, service_model, validate
from dockyard.http.aws.sigv4 import SecretKeyRecord, SigV4Verifier, VerifiedRequest

__all__ = [
    "AwsEndpoint",
    "AwsError",
    "Fault",
    "Handler",
    "ParamValidationError",
    "ProtocolError",
    "SecretKeyRecord",
    "SigV4Verifier",
    "SignatureError",
    "VerifiedRequest",
    "service_model",
    "validate",
]
