"""The one table from domain and service errors to ECR's exception names (the model's error shapes).

Statuses are the protocol's: 400 for every client error, 500 for ``ServerException``. Anything unmapped is
a bug: logged, and answered as ``ServerException`` without detail.
"""

from __future__ import annotations

import logging

from dockyard.domain import errors as e
from dockyard.domain.identity import AccessDenied
from dockyard.domain.lifecycle import LifecyclePolicyInvalid
from dockyard.http.aws.errors import AwsError, DomainTable, map_domain_error
from dockyard.services import ecr_types as t
from dockyard.services import lifecycle
from dockyard.services import scan_types as scan

log = logging.getLogger("dockyard.ecr")

ECR_ERRORS: DomainTable = {
    t.RepositoryNotFound: ("RepositoryNotFoundException", 400),
    e.NameUnknown: ("RepositoryNotFoundException", 400),
    t.RepositoryAlreadyExists: ("RepositoryAlreadyExistsException", 400),
    t.RepositoryNotEmpty: ("RepositoryNotEmptyException", 400),
    t.RepositoryPolicyNotFound: ("RepositoryPolicyNotFoundException", 400),
    t.RegistryPolicyNotFound: ("RegistryPolicyNotFoundException", 400),
    t.ImageNotFound: ("ImageNotFoundException", 400),
    t.ImageAlreadyExists: ("ImageAlreadyExistsException", 400),
    t.ImageDigestMismatch: ("ImageDigestDoesNotMatchException", 400),
    e.TagImmutable: ("ImageTagAlreadyExistsException", 400),
    t.LayersNotFound: ("LayersNotFoundException", 400),
    e.ManifestBlobUnknown: ("LayersNotFoundException", 400),
    e.BlobUnknown: ("LayersNotFoundException", 400),
    t.ReferencedImagesNotFound: ("ReferencedImagesNotFoundException", 400),
    t.UploadNotFound: ("UploadNotFoundException", 400),
    e.BlobUploadUnknown: ("UploadNotFoundException", 400),
    t.LayerPartTooSmall: ("LayerPartTooSmallException", 400),
    t.LayerAlreadyExists: ("LayerAlreadyExistsException", 400),
    t.InvalidLayer: ("InvalidLayerException", 400),
    t.EmptyUpload: ("EmptyUploadException", 400),
    t.InvalidParameter: ("InvalidParameterException", 400),
    t.InvalidTagParameter: ("InvalidTagParameterException", 400),
    t.TooManyTags: ("TooManyTagsException", 400),
    t.Throttled: ("ThrottlingException", 400),
    e.NameInvalid: ("InvalidParameterException", 400),
    e.TagInvalid: ("InvalidParameterException", 400),
    e.DigestInvalid: ("InvalidParameterException", 400),
    e.Unsupported: ("InvalidParameterException", 400),
    e.ManifestInvalid: ("InvalidParameterException", 400),
    e.ManifestTooLarge: ("InvalidParameterException", 400),
    e.PaginationInvalid: ("InvalidParameterException", 400),
    AccessDenied: ("AccessDeniedException", 400),
    LifecyclePolicyInvalid: ("InvalidParameterException", 400),
    lifecycle.LifecyclePolicyNotFound: ("LifecyclePolicyNotFoundException", 400),
    lifecycle.LifecyclePreviewNotFound: ("LifecyclePolicyPreviewNotFoundException", 400),
    scan.ScanNotFound: ("ScanNotFoundException", 400),
    scan.UnsupportedImageType: ("UnsupportedImageTypeException", 400),
    scan.ScanLimitExceeded: ("LimitExceededException", 400),
}


def ecr_error(exc: Exception) -> AwsError:
    """``exc`` as ECR answers it (see the module docstring)."""
    if isinstance(exc, t.InvalidLayerPart):
        fields = {"lastValidByteReceived": exc.last_valid_byte}
        return AwsError("InvalidLayerPartException", exc.text, 400, fields=fields)
    if isinstance(exc, t.KmsUnavailable):
        return AwsError("KmsException", exc.text, 400, fields={"kmsError": "KMSNotConfigured"})
    mapped = map_domain_error(exc, ECR_ERRORS)
    if mapped is not None:
        return mapped
    log.exception("ecr request failed", exc_info=exc)
    return AwsError(
        "ServerException", "We encountered an internal error. Please try again.", 500, sender_fault=False
    )
