"""Every scenario: ``async (target, payloads) -> measurements``, run once against each registry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bench.model import Measurement, Payloads, Target
from bench.scenarios.blobs import pull, push, small_push
from bench.scenarios.idle import idle
from bench.scenarios.image_pull import image_pull
from bench.scenarios.manifests import catalog, manifest_get, manifest_put, tags_list

Scenario = Callable[[Target, Payloads], Awaitable[list[Measurement]]]

SCENARIOS: dict[str, Scenario] = {
    "push": push,
    "pull": pull,
    "small-push": small_push,
    "manifest-put": manifest_put,
    "manifest-get": manifest_get,
    "tags-list": tags_list,
    "catalog": catalog,
    "image-pull": image_pull,
    "idle": idle,
}
