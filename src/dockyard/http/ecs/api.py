"""``build_ecs_endpoint``: ECS over Dockyard's own services, ready to mount.

The composition root mounts ``api.endpoint`` (an :class:`~dockyard.http.aws.endpoint.AwsEndpoint`) in the
``AwsRouter`` under the signing name ``ecs``, and ``api.poll`` on :data:`~.poll.POLL_PATH`; it hands
``store.images_in_use`` to lifecycle policies, so an image a running task uses is never expired.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from dockyard.http.aws.endpoint import AwsEndpoint
from dockyard.http.ecr.auth import EcrCaller, caller_authenticator
from dockyard.http.ecs.errors import ecs_error
from dockyard.http.ecs.handlers import ClusterHandlers, EcsContext, bound
from dockyard.http.ecs.poll import POLL_PATH, PollEndpoint
from dockyard.http.ecs.shapes import Shapes
from dockyard.http.ecs.task_handlers import TaskHandlers
from dockyard.metadata.ecs_store import EcsStore
from dockyard.metadata.ecs_task_store import TaskStore
from dockyard.ports import Clock
from dockyard.services.access import Access
from dockyard.services.ecr_tokens import PageTokens, SigningKey
from dockyard.services.ecs import EcsClusters
from dockyard.services.ecs_agent import EcsAgent
from dockyard.services.ecs_instances import EcsInstances
from dockyard.services.ecs_roles import RoleGate
from dockyard.services.ecs_tasks import EcsTasks
from dockyard.services.ecs_types import EcsConfig
from dockyard.services.sts import StsService

MAX_BODY_BYTES = 4 * 1024 * 1024  # a task definition is at most 64 KiB; registrations are small


@dataclass
class EcsApi:
    endpoint: AwsEndpoint[EcrCaller]
    poll: PollEndpoint
    context: EcsContext
    store: EcsStore

    def routes(self) -> list[BaseRoute]:
        """The poll endpoint, for a Starlette route list (the API itself goes in the ``AwsRouter``)."""
        return [Route(POLL_PATH, self.poll, methods=["POST"])]


def build_ecs_endpoint(
    *,
    engine: AsyncEngine,
    clock: Clock,
    access: Access,
    sts: StsService,
    authenticator: Callable[[Request, bytes], Awaitable[Any]],
    key: SigningKey,
    config: EcsConfig,
) -> EcsApi:
    store, task_store = EcsStore(engine, clock), TaskStore(engine, clock)
    roles, pages = RoleGate(access, sts), PageTokens(key)
    clusters = EcsClusters(store, roles, pages, config)
    instances = EcsInstances(store, roles, pages, clock, config)
    tasks = EcsTasks(instances, task_store, roles, pages, clock, config)
    agent = EcsAgent(store, task_store, roles, clock, config)
    tasks.wake = agent.waker.wake
    ctx = EcsContext(clusters, instances, tasks, agent, access, Shapes(config.region))

    async def account_of(identity: Any) -> str:
        return str(identity.account)

    authenticate = caller_authenticator(authenticator, account_of)
    operations = ClusterHandlers(ctx).operations() | TaskHandlers(ctx).operations()
    endpoint = AwsEndpoint(
        service="ecs",
        handlers={name: bound(name, op, access) for name, op in operations.items()},
        authenticator=authenticate,
        domain_errors=ecs_error,
        max_body_bytes=MAX_BODY_BYTES,
    )
    return EcsApi(endpoint, PollEndpoint(ctx, authenticate), ctx, store)
