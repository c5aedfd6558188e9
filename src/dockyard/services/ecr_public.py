"""ECR Public's use cases: each account's public registry (alias, display name), public repositories with
their catalog data and policies, image listings, and the login password for the public host.

Names, as ECR Public has them: ``arn:aws:ecr-public::<account>:repository/<name>`` (no region),
``arn:aws:ecr-public::<account>:registry/<account>``, and ``public.<domain>/<alias>/<name>``.

**Aliases.** An account's public registry is made at its first use of the ECR Public API (any operation
that names its own registry) with an alias that never changes: by default eight random lowercase letters
and digits starting with a letter (ECR Public's own default aliases look so); with ``public_alias`` set to
an alias, the default account gets that one (another account that already holds it keeps it, and the
default account then gets a random one).
"""

from __future__ import annotations

import base64
import re
import secrets
import string
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dockyard.metadata.ecr_image_store import EcrImageStore
from dockyard.metadata.ecr_public_store import EcrPublicStore, catalog_columns
from dockyard.metadata.ecr_store import EcrStore
from dockyard.ports import Clock
from dockyard.services.ecr import (
    MAX_RESOURCE_TAGS,
    check_policy,
    check_resource_tags,
    page_position,
    parameter_error,
)
from dockyard.services.ecr_public_types import (
    ARCHITECTURES,
    OPERATING_SYSTEMS,
    CatalogData,
    PublicRegistry,
    PublicRepository,
    TagRow,
    valid_alias,
)
from dockyard.services.ecr_tokens import PageTokens, TokenIssuer
from dockyard.services.ecr_types import (
    ImageDetail,
    ImageId,
    ImageNotFound,
    ImageRow,
    InvalidTagParameter,
    Page,
    RepositoryAlreadyExists,
    RepositoryNotEmpty,
    RepositoryNotFound,
    RepositoryPolicyNotFound,
    TooManyTags,
)

DEFAULT_PAGE = 100
RANDOM_ALIAS = "random"
_ARN = re.compile(r"^arn:aws:ecr-public::(?P<account>\d{12}):repository/(?P<name>.+)\Z")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+\Z")
_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True, slots=True)
class PublicConfig:
    domain: str
    alias_rule: str = RANDOM_ALIAS  # "random", or the alias of the default account
    token_lifetime: timedelta = timedelta(hours=12)

    @property
    def host(self) -> str:
        """The public registry's host name (and the Docker token ``service``): ``public.<domain>``."""
        return f"public.{self.domain.lower()}"


@dataclass(frozen=True, slots=True)
class TagDetail:
    row: TagRow
    size: int


def random_alias() -> str:
    return secrets.choice(string.ascii_lowercase) + "".join(secrets.choice(_ALPHABET) for _ in range(7))


def check_catalog(catalog: CatalogData) -> CatalogData:
    """Architectures and operating systems must be ECR Public's; repeats are dropped."""
    for member, values, allowed in (
        ("architectures", catalog.architectures, ARCHITECTURES),
        ("operatingSystems", catalog.operating_systems, OPERATING_SYSTEMS),
    ):
        for value in values or ():
            if value not in allowed:
                raise parameter_error(
                    f"catalogData.{member}", f"Member must satisfy enum value set: [{', '.join(allowed)}]"
                )
    return CatalogData(
        catalog.description,
        catalog.about_text,
        catalog.usage_text,
        None if catalog.architectures is None else tuple(dict.fromkeys(catalog.architectures)),
        None if catalog.operating_systems is None else tuple(dict.fromkeys(catalog.operating_systems)),
    )


class EcrPublic:
    def __init__(
        self,
        store: EcrPublicStore,
        images: EcrImageStore,
        resource_tags: EcrStore,
        clock: Clock,
        config: PublicConfig,
        pages: PageTokens,
        issuer: TokenIssuer,
        default_account: Callable[[], Awaitable[str]],
    ) -> None:
        self.store = store
        self.images = images
        self.resource_tags = resource_tags
        self.clock = clock
        self.config = config
        self.pages = pages
        self.issuer = issuer
        self.default_account = default_account

    # -- names ----------------------------------------------------------------------------------------

    @staticmethod
    def arn(account: str, name: str) -> str:
        return f"arn:aws:ecr-public::{account}:repository/{name}"

    @staticmethod
    def registry_arn(account: str) -> str:
        return f"arn:aws:ecr-public::{account}:registry/{account}"

    def uri(self, alias: str, name: str | None = None) -> str:
        return f"{self.config.host}/{alias}" + ("" if name is None else f"/{name}")

    @staticmethod
    def parse_arn(arn: str) -> tuple[str, str]:
        match = _ARN.match(arn)
        if match is None:
            raise parameter_error("resourceArn", "Invalid ARN")
        return match["account"], match["name"]

    # -- registries -----------------------------------------------------------------------------------

    async def registry(self, account: str) -> PublicRegistry:
        """The account's public registry, made (with its alias) on first use."""
        found = await self.store.registry(account)
        if found is not None:
            return found
        wanted = self.config.alias_rule
        if wanted != RANDOM_ALIAS and valid_alias(wanted) and account == await self.default_account():
            made = await self.store.create_registry(account, wanted)
            if made is not None:
                return made
        for _ in range(8):  # 36**7 aliases per first letter: a collision is rare, eight in a row never
            made = await self.store.create_registry(account, random_alias())
            if made is not None:
                return made
        raise RuntimeError("could not draw a free registry alias")

    async def existing_registry(self, account: str) -> PublicRegistry | None:
        """Another account's registry: never made on someone else's behalf."""
        return await self.store.registry(account)

    async def put_display_name(self, account: str, display_name: str) -> PublicRegistry:
        await self.registry(account)
        await self.store.set_display_name(account, display_name)
        return await self.registry(account)

    # -- repositories ---------------------------------------------------------------------------------

    @staticmethod
    def not_found(name: str, account: str) -> RepositoryNotFound:
        return RepositoryNotFound(
            f"The repository with name '{name}' does not exist in the registry with id '{account}'"
        )

    async def get(self, account: str, name: str) -> PublicRepository:
        found = await self.store.repository(account, name)
        if found is None:
            raise self.not_found(name, account)
        return found

    async def create(
        self, account: str, name: str, catalog: CatalogData, tags: Sequence[tuple[str, str]]
    ) -> PublicRepository:
        resource_tags = check_resource_tags(tags)
        checked = check_catalog(catalog)
        registry = await self.registry(account)
        created = await self.store.create_repository(registry, name, checked, resource_tags)
        if created is None:
            raise RepositoryAlreadyExists(
                f"The repository with name '{name}' already exists in the registry with id '{account}'"
            )
        return created

    async def describe(self, account: str, names: Sequence[str]) -> list[PublicRepository]:
        return [await self.get(account, name) for name in dict.fromkeys(names)]

    async def page(self, account: str, token: str | None, limit: int | None) -> Page[PublicRepository]:
        after = self._position(token, "DescribeRepositories", account, str)
        size = limit or DEFAULT_PAGE
        found = await self.store.list_repositories(
            account, after if isinstance(after, str) else None, size + 1
        )
        if len(found) <= size:
            return Page(found)
        found = found[:size]
        return Page(found, self.pages.issue("DescribeRepositories", account, found[-1].name))

    def _position(self, token: str | None, operation: str, scope: str, kind: type) -> object:
        return page_position(self.pages, token, operation, scope, kind)

    async def delete(self, account: str, name: str, force: bool) -> PublicRepository:
        found = await self.get(account, name)
        outcome = await self.store.delete_repository(found.id, force)
        if outcome == "not_empty":
            raise RepositoryNotEmpty(
                f"The repository with name '{name}' in registry with id '{account}' cannot be deleted "
                "because it still contains images"
            )
        if outcome == "gone":
            raise self.not_found(name, account)
        return found

    async def _update(self, found: PublicRepository, **columns: object) -> PublicRepository:
        if not await self.store.update_repository(found.id, **columns):
            raise self.not_found(found.name, found.account_id)
        return await self.get(found.account_id, found.name)

    async def put_catalog(self, account: str, name: str, catalog: CatalogData) -> PublicRepository:
        found = await self.get(account, name)
        merged = found.catalog.merged(check_catalog(catalog))
        return await self._update(found, **catalog_columns(merged))

    # -- repository policy ----------------------------------------------------------------------------

    async def set_policy(self, account: str, name: str, text: str) -> PublicRepository:
        found = await self.get(account, name)
        check_policy(text, "repository")
        return await self._update(found, policy_text=text)

    async def policy(self, account: str, name: str) -> tuple[PublicRepository, str]:
        found = await self.get(account, name)
        if found.policy_text is None:
            raise RepositoryPolicyNotFound.of(name, account)
        return found, found.policy_text

    async def delete_policy(self, account: str, name: str) -> tuple[PublicRepository, str]:
        found, text = await self.policy(account, name)
        await self._update(found, policy_text=None)
        return found, text

    # -- resource tags --------------------------------------------------------------------------------

    async def _by_arn(self, arn: str) -> PublicRepository:
        account, name = self.parse_arn(arn)
        return await self.get(account, name)

    async def tag(self, arn: str, tags: Sequence[tuple[str, str]]) -> None:
        found = await self._by_arn(arn)
        if not await self.resource_tags.put_resource_tags(
            found.id, check_resource_tags(tags), MAX_RESOURCE_TAGS
        ):
            raise TooManyTags(f"A resource can have at most {MAX_RESOURCE_TAGS} tags.")

    async def untag(self, arn: str, keys: Sequence[str]) -> None:
        found = await self._by_arn(arn)
        for key in keys:
            if key.lower().startswith("aws:"):
                raise InvalidTagParameter(f"The tag key '{key}' is not valid.")
        await self.resource_tags.remove_resource_tags(found.id, keys)

    async def tags_of(self, arn: str) -> list[tuple[str, str]]:
        return await self.resource_tags.resource_tags((await self._by_arn(arn)).id)

    # -- images ---------------------------------------------------------------------------------------

    async def describe_images(
        self, account: str, name: str, token: str | None, limit: int | None
    ) -> tuple[PublicRepository, Page[ImageDetail]]:
        found = await self.get(account, name)
        after = self._position(token, "DescribeImages", str(found.id), int)
        size = limit or DEFAULT_PAGE
        rows = await self.images.image_page(
            found.id, after if isinstance(after, int) else None, size + 1, "ANY"
        )
        next_token = None
        if len(rows) > size:
            rows = rows[:size]
            next_token = self.pages.issue("DescribeImages", str(found.id), rows[-1].id)
        return found, Page(await self._details(found, rows), next_token)

    async def describe_image_ids(
        self, account: str, name: str, ids: Sequence[ImageId]
    ) -> tuple[PublicRepository, list[ImageDetail]]:
        """The images ``ids`` name; ImageNotFound for the first that names none."""
        found = await self.get(account, name)
        for image_id in ids:
            if image_id.digest is not None and not _DIGEST.match(image_id.digest):
                raise parameter_error("imageIds.imageDigest", "Invalid image digest")
        by_tag = await self.images.images_by_tag(found.id, {i.tag for i in ids if i.tag})
        by_digest = await self.images.images_by_digest(found.id, {i.digest for i in ids if i.digest})
        rows: dict[int, ImageRow] = {}
        for image_id in dict.fromkeys(ids):
            row = by_tag.get(image_id.tag) if image_id.tag else by_digest.get(str(image_id.digest))
            if row is None or (image_id.digest is not None and row.digest != image_id.digest):
                raise ImageNotFound(
                    f"The image with imageId {{imageDigest:'{image_id.digest or 'null'}', "
                    f"imageTag:'{image_id.tag or 'null'}'}} does not exist within the repository with name "
                    f"'{name}' in the registry with id '{account}'"
                )
            rows[row.id] = row
        return found, await self._details(found, list(rows.values()))

    async def _details(self, found: PublicRepository, rows: Sequence[ImageRow]) -> list[ImageDetail]:
        facts = await self.images.image_facts(found.id, [row.id for row in rows])
        return [
            ImageDetail(row, tuple(facts.tags.get(row.id, ())), facts.sizes.get(row.id, 0), None)
            for row in rows
        ]

    async def image_tags(
        self, account: str, name: str, token: str | None, limit: int | None
    ) -> tuple[PublicRepository, Page[TagDetail]]:
        found = await self.get(account, name)
        after = self._position(token, "DescribeImageTags", str(found.id), str)
        size = limit or DEFAULT_PAGE
        rows = await self.store.tag_page(found.id, after if isinstance(after, str) else None, size + 1)
        next_token = None
        if len(rows) > size:
            rows = rows[:size]
            next_token = self.pages.issue("DescribeImageTags", str(found.id), rows[-1].tag)
        facts = await self.images.image_facts(found.id, {row.image.id for row in rows})
        return found, Page([TagDetail(row, facts.sizes.get(row.image.id, 0)) for row in rows], next_token)

    # -- login ----------------------------------------------------------------------------------------

    def authorization(self, account: str, principal: str, access_key_id: str | None) -> tuple[str, datetime]:
        """``base64("AWS:<password>")`` for the public host, valid 12 hours, and its expiry."""
        expires = self.clock.now() + self.config.token_lifetime
        password = self.issuer.issue(account, principal, expires, access_key_id)
        return base64.b64encode(f"AWS:{password}".encode()).decode("ascii"), expires
