"""ECR's repository-level use cases: repositories and their settings, repository and registry policies,
resource tags, the registry description and authorization tokens.

Names and ARNs: ``arn:aws:ecr:<region>:<account>:repository/<name>`` and ``<account>.dkr.<domain>/<name>``.
Repositories are named within an account: a request addresses the registry of its ``registryId`` if it
gives one (another account's, for cross-account access that a repository policy grants), else the
caller's own.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dockyard.caching import SignalCache
from dockyard.domain.iam.errors import MalformedPolicyDocument
from dockyard.domain.iam.policy import parse_policy
from dockyard.metadata.ecr_store import EcrStore
from dockyard.ports import ChangeSignal, Clock
from dockyard.services.ecr_tokens import PageTokens, TokenIssuer
from dockyard.services.ecr_types import (
    EcrRepository,
    InvalidParameter,
    InvalidTagParameter,
    KmsUnavailable,
    Mutability,
    Page,
    RegistryPolicyNotFound,
    RepositoryAlreadyExists,
    RepositoryNotEmpty,
    RepositoryNotFound,
    RepositoryPolicyNotFound,
    RepositorySettings,
    TooManyTags,
    tag_is_immutable,
)

MAX_RESOURCE_TAGS = 50
DEFAULT_PAGE = 100
_ARN = re.compile(r"^arn:aws:ecr:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):repository/(?P<name>.+)\Z")
_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*\Z")


@dataclass(frozen=True, slots=True)
class EcrConfig:
    region: str
    domain: str  # registry host names are <account>.dkr.<domain>
    default_account: str
    token_lifetime: timedelta = timedelta(hours=12)
    download_lifetime: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class RegistryRef:
    """The registry a request addresses: its ``registryId`` if it gave one, else the caller's account."""

    account: str
    explicit: str | None = None

    @property
    def id(self) -> str:
        return self.explicit or self.account


@dataclass(frozen=True, slots=True)
class AuthorizationData:
    token: str  # base64 of "AWS:<password>"
    expires_at: datetime
    proxy_endpoint: str


def page_position(pages: PageTokens, token: str | None, operation: str, scope: str, kind: type) -> object:
    """Where a ``nextToken`` of ``operation`` over ``scope`` resumes (a ``kind``), ``None`` without one;
    ECR's InvalidParameter for a token that is forged, expired, or another operation's."""
    if token is None:
        return None
    try:
        position = pages.read(token, operation, scope)
    except ValueError:
        raise parameter_error("nextToken", "Invalid NextToken") from None
    if not isinstance(position, kind):
        raise parameter_error("nextToken", "Invalid NextToken")
    return position


def parameter_error(member: str, constraint: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter at '{member}' failed to satisfy constraint: '{constraint}'")


def check_policy(text: str, kind: str) -> None:
    """ECR accepts resource-based policies only; anything else is ECR's InvalidParameterException."""
    try:
        parse_policy(text, "resource")
    except (MalformedPolicyDocument, ValueError, TypeError):
        raise parameter_error("PolicyText", f"Invalid {kind} policy provided") from None


def check_resource_tags(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in pairs:
        if not 1 <= len(key) <= 128 or not _TAG_TEXT.match(key) or key.lower().startswith("aws:"):
            raise InvalidTagParameter(f"The tag key '{key[:128]}' is not valid.")
        if len(value) > 256 or not _TAG_TEXT.match(value):
            raise InvalidTagParameter(f"The value of tag '{key}' is not valid.")
        if key in found:
            raise InvalidTagParameter(f"The tag key '{key}' is given more than once.")
        found[key] = value
    if len(found) > MAX_RESOURCE_TAGS:
        raise TooManyTags(f"A resource can have at most {MAX_RESOURCE_TAGS} tags.")
    return found


def check_mutability(mutability: Mutability, filters: Sequence[str]) -> tuple[str, ...]:
    if mutability.takes_filters and not filters:
        raise parameter_error(
            "imageTagMutabilityExclusionFilters", f"exclusion filters are required with {mutability.value}"
        )
    if filters and not mutability.takes_filters:
        raise parameter_error(
            "imageTagMutabilityExclusionFilters", f"exclusion filters are not allowed with {mutability.value}"
        )
    return tuple(dict.fromkeys(filters))


def check_encryption(encryption_type: str, kms_key: str | None) -> None:
    if encryption_type in ("KMS", "KMS_DSSE"):
        raise KmsUnavailable(
            "KMS encryption is not available: this registry has no KMS key provider configured."
        )
    if kms_key is not None:
        raise parameter_error(
            "encryptionConfiguration.kmsKey", "kmsKey may only be given with KMS encryption"
        )


class EcrRepositories:
    def __init__(
        self,
        store: EcrStore,
        clock: Clock,
        config: EcrConfig,
        pages: PageTokens,
        issuer: TokenIssuer,
        settings_signal: ChangeSignal,
    ) -> None:
        """``settings_signal`` moves whenever a repository's settings change or a repository comes or goes
        (every ECR write bumps it), so the tag-mutability rules a push consults can be cached on it."""
        self.store = store
        self._rules = SignalCache(settings_signal, 4096)
        self.clock = clock
        self.config = config
        self.pages = pages
        self.issuer = issuer

    # -- names ----------------------------------------------------------------------------------------

    def arn(self, account: str, name: str) -> str:
        return f"arn:aws:ecr:{self.config.region}:{account}:repository/{name}"

    def uri(self, account: str, name: str) -> str:
        return f"{self.endpoint_host(account)}/{name}"

    def endpoint_host(self, account: str) -> str:
        return f"{account}.dkr.{self.config.domain}"

    def parse_arn(self, arn: str) -> tuple[str, str]:
        """``(account, name)`` of a repository ARN of this region; InvalidParameter otherwise."""
        match = _ARN.match(arn)
        if match is None or match["region"] != self.config.region:
            raise parameter_error("resourceArn", "Invalid ARN")
        return match["account"], match["name"]

    # -- repositories ---------------------------------------------------------------------------------

    async def get(self, name: str, registry: RegistryRef) -> EcrRepository:
        """The repository ``name`` of the addressed registry; RepositoryNotFound when there is none."""
        found = await self.store.repository(registry.id, name)
        if found is None:
            raise self.not_found(name, registry)
        return found

    @staticmethod
    def not_found(name: str, registry: RegistryRef) -> RepositoryNotFound:
        return RepositoryNotFound(
            f"The repository with name '{name}' does not exist in the registry with id '{registry.id}'"
        )

    async def cached(self, repository_id: int) -> EcrRepository | None:
        """The repository with its settings, from a cache dropped whenever any settings change."""
        found: EcrRepository | None = await self._rules.get(
            repository_id, lambda: self.store.repository_by_id(repository_id)
        )
        return found

    async def is_immutable(self, repository_id: int, tag: str) -> bool:
        """:class:`~dockyard.ports.TagRules` for manifest pushes over ``/v2/``."""
        found = await self.cached(repository_id)
        if found is None:
            return False
        return tag_is_immutable(found.settings.mutability, found.settings.exclusion_filters, tag)

    async def create(
        self, name: str, account: str, settings: RepositorySettings, tags: Sequence[tuple[str, str]]
    ) -> EcrRepository:
        resource_tags = check_resource_tags(tags)
        check_mutability(settings.mutability, settings.exclusion_filters)
        check_encryption(settings.encryption_type, settings.kms_key)
        created = await self.store.create_repository(name, account, settings, resource_tags)
        if created is None:
            raise RepositoryAlreadyExists(
                f"The repository with name '{name}' already exists in the registry with id '{account}'"
            )
        return created

    async def describe(self, names: Sequence[str], registry: RegistryRef) -> list[EcrRepository]:
        return [await self.get(name, registry) for name in dict.fromkeys(names)]

    async def page(self, registry: RegistryRef, token: str | None, limit: int | None) -> Page[EcrRepository]:
        scope = registry.id
        after = None if token is None else self._position(token, "DescribeRepositories", scope)
        size = limit or DEFAULT_PAGE
        found = await self.store.list_repositories(registry.id, after, size + 1)
        if len(found) <= size:
            return Page(found)
        found = found[:size]
        return Page(found, self.pages.issue("DescribeRepositories", scope, found[-1].name))

    def _position(self, token: str, operation: str, scope: str) -> str:
        return str(page_position(self.pages, token, operation, scope, str))

    async def delete(self, name: str, registry: RegistryRef, force: bool) -> EcrRepository:
        found = await self.get(name, registry)
        outcome = await self.store.delete_repository(found.id, force)
        if outcome == "not_empty":
            raise RepositoryNotEmpty(
                f"The repository with name '{name}' in registry with id '{found.account_id}' cannot be "
                "deleted because it still contains images"
            )
        if outcome == "gone":
            raise self.not_found(name, registry)
        return found

    async def set_mutability(
        self, name: str, registry: RegistryRef, mutability: Mutability, filters: Sequence[str]
    ) -> EcrRepository:
        found = await self.get(name, registry)
        chosen = check_mutability(mutability, filters)
        await self.store.update_settings(
            found, image_tag_mutability=mutability.value, mutability_exclusions=list(chosen) or None
        )
        return await self.get(name, registry)

    async def set_scan_on_push(self, name: str, registry: RegistryRef, scan_on_push: bool) -> EcrRepository:
        found = await self.get(name, registry)
        await self.store.update_settings(found, scan_on_push=scan_on_push)
        return await self.get(name, registry)

    # -- repository policy ----------------------------------------------------------------------------

    async def set_policy(self, name: str, registry: RegistryRef, text: str) -> EcrRepository:
        found = await self.get(name, registry)
        check_policy(text, "repository")
        await self.store.update_settings(found, policy_text=text)
        return found

    async def policy(self, name: str, registry: RegistryRef) -> tuple[EcrRepository, str]:
        found = await self.get(name, registry)
        if found.policy_text is None:
            raise RepositoryPolicyNotFound.of(name, found.account_id)
        return found, found.policy_text

    async def delete_policy(self, name: str, registry: RegistryRef) -> tuple[EcrRepository, str]:
        found, text = await self.policy(name, registry)
        await self.store.update_settings(found, policy_text=None)
        return found, text

    # -- resource tags --------------------------------------------------------------------------------

    async def _by_arn(self, arn: str) -> EcrRepository:
        account, name = self.parse_arn(arn)
        return await self.get(name, RegistryRef(account, account))

    async def tag(self, arn: str, tags: Sequence[tuple[str, str]]) -> None:
        found = await self._by_arn(arn)
        if not await self.store.put_resource_tags(found.id, check_resource_tags(tags), MAX_RESOURCE_TAGS):
            raise TooManyTags(f"A resource can have at most {MAX_RESOURCE_TAGS} tags.")

    async def untag(self, arn: str, keys: Sequence[str]) -> None:
        found = await self._by_arn(arn)
        for key in keys:
            if key.lower().startswith("aws:"):
                raise InvalidTagParameter(f"The tag key '{key}' is not valid.")
        await self.store.remove_resource_tags(found.id, keys)

    async def tags_of(self, arn: str) -> list[tuple[str, str]]:
        return await self.store.resource_tags((await self._by_arn(arn)).id)

    # -- registry -------------------------------------------------------------------------------------

    async def put_registry_policy(self, account: str, text: str) -> None:
        check_policy(text, "registry")
        await self.store.put_registry_policy(account, text)

    async def registry_policy(self, account: str) -> str:
        text = await self.store.registry_policy(account)
        if text is None:
            raise RegistryPolicyNotFound(
                f"Registry policy does not exist in the registry with id '{account}'"
            )
        return text

    async def delete_registry_policy(self, account: str) -> str:
        text = await self.store.delete_registry_policy(account)
        if text is None:
            raise RegistryPolicyNotFound(
                f"Registry policy does not exist in the registry with id '{account}'"
            )
        return text

    def authorization(
        self, accounts: Sequence[str], principal: str, access_key_id: str | None = None
    ) -> list[AuthorizationData]:
        """One login per registry: ``base64("AWS:<password>")``, valid for 12 hours (ECR's lifetime), bound to
        the principal and the credential it signed with (a temporary credential's expiry ends it sooner)."""
        expires = self.clock.now() + self.config.token_lifetime
        found = []
        for account in dict.fromkeys(accounts):
            password = self.issuer.issue(account, principal, expires, access_key_id)
            token = base64.b64encode(f"AWS:{password}".encode()).decode("ascii")
            found.append(AuthorizationData(token, expires, f"https://{self.endpoint_host(account)}"))
        return found


def settings_from(params: Mapping[str, object]) -> RepositorySettings:
    """CreateRepository's settings members (already validated against the model) as settings."""
    scanning = params.get("imageScanningConfiguration") or {}
    encryption = params.get("encryptionConfiguration") or {}
    filters = params.get("imageTagMutabilityExclusionFilters") or []
    assert isinstance(scanning, dict)
    assert isinstance(encryption, dict)
    assert isinstance(filters, list)
    return RepositorySettings(
        mutability=Mutability(str(params.get("imageTagMutability", "MUTABLE"))),
        exclusion_filters=tuple(f["filter"] for f in filters),
        scan_on_push=bool(scanning.get("scanOnPush", False)),
        encryption_type=str(encryption.get("encryptionType", "AES256")),
        kms_key=encryption.get("kmsKey"),
    )
