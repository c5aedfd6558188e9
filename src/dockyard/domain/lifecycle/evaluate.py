"""Which images a lifecycle policy expires: ECR's evaluation, as a pure function of the repository's images.

ECR's semantics, as its documentation states them and its examples show:

- Every rule looks at the images its tag selection matches (``tagged`` with prefixes or patterns: each entry
  must match one of the image's tags; ``untagged``; ``any``), ordered by push time, and marks the ones past
  its window: all but the newest ``countNumber`` (``imageCountMoreThan``), or those pushed
  (``sinceImagePushed``) or last pulled (``sinceImagePulled``; push time if never pulled) more than
  ``countNumber`` days ago.
- An image is expired by at most one rule: the first rule, in priority order, whose selection matches it.
  A lower-priority rule never expires an image a higher-priority rule selected (even one that rule kept),
  but that image still counts in the lower rule's window.

What an image graph adds (Dockyard's, in ECR's spirit):

- An image that an image index in the repository references is protected while that index survives; when
  the index expires its children are evaluated as ordinary images (a fixpoint, so a second run finds
  nothing more to do).
- A referrer (signature, SBOM: an image with a ``subject``) whose subject is in the repository is not an
  image of its own here: it goes with its subject, under the subject's rule. One whose subject was never
  pushed is protected for ``orphan_grace`` after its push (the subject may be on its way), then it is an
  ordinary untagged image.
- Keep rules (the ``dockyardKeepRules`` extension) protect the images they match from every rule.

Protected images still count in the windows. ``evaluate`` is deterministic: push-time ties are broken by
digest, so a preview and a run over the same images at the same instant agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dockyard.domain.lifecycle.policy import KeepRule, Policy, Rule, TagFilter

DEFAULT_ORPHAN_GRACE = timedelta(days=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What evaluation needs of one image: ``parents`` are the digests of the repository's indexes that
    reference it; ``subject`` the digest its manifest names as subject, if any."""

    digest: str
    pushed_at: datetime
    tags: tuple[str, ...] = ()
    last_pulled_at: datetime | None = None
    parents: frozenset[str] = field(default_factory=frozenset)
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Expiry:
    """One image to expire and the priority of the rule that expires it (its subject's, for a referrer)."""

    digest: str
    rule_priority: int
    tags: tuple[str, ...]
    pushed_at: datetime
    with_subject: str | None = None  # set when the image goes because its subject does


def evaluate(
    policy: Policy,
    images: Iterable[ImageFacts],
    now: datetime,
    orphan_grace: timedelta = DEFAULT_ORPHAN_GRACE,
) -> list[Expiry]:
    """The images a run of ``policy`` at ``now`` expires, ordered so that an index comes before the images
    it references and a subject before its referrers (the order deletes must take)."""
    by_digest = {image.digest: image for image in images}
    attached = {d for d, i in by_digest.items() if i.subject is not None and i.subject in by_digest}
    candidates = sorted(
        (i for d, i in by_digest.items() if d not in attached), key=lambda i: (i.pushed_at, i.digest)
    )
    owner = _owners(policy.rules, candidates)
    marked = {d: rule for rule in policy.rules for d in _marked(rule, owner, candidates, now)}
    base_protected = _kept(policy.keep, candidates, now) | {
        i.digest
        for i in candidates
        if i.subject is not None and now - i.pushed_at < orphan_grace  # orphan referrer in its grace
    }
    referrers = _referrers(by_digest, attached)
    expired: dict[str, int] = {}
    while True:
        protected = base_protected | {
            d for d, i in by_digest.items() if any(p in by_digest and p not in expired for p in i.parents)
        }
        found = {d: rule.priority for d, rule in marked.items() if d not in protected}
        _follow_referrers(found, referrers)
        if found == expired:
            break
        expired = found
    return _ordered(expired, by_digest, referrers)


def _owners(rules: Sequence[Rule], candidates: Sequence[ImageFacts]) -> dict[str, int]:
    """Each image's owning rule: the first, in priority order, whose tag selection matches it."""
    owner: dict[str, int] = {}
    for rule in rules:
        matcher = _Matcher(rule.tags)
        for image in candidates:
            if image.digest not in owner and _selects(rule, matcher, image):
                owner[image.digest] = rule.priority
    return owner


def _marked(rule: Rule, owner: dict[str, int], candidates: Sequence[ImageFacts], now: datetime) -> list[str]:
    """The images past ``rule``'s window that ``rule`` owns (so may expire)."""
    matcher = _Matcher(rule.tags)
    selected = [i for i in candidates if _selects(rule, matcher, i)]  # oldest first
    if rule.count_type == "imageCountMoreThan":
        past = selected[: max(0, len(selected) - rule.count_number)]
    else:
        cutoff = now - rule.count_number * _DAY
        pulled = rule.count_type == "sinceImagePulled"
        past = [i for i in selected if _moment(i, pulled) < cutoff]
    return [i.digest for i in past if owner.get(i.digest) == rule.priority]


def _moment(image: ImageFacts, pulled: bool) -> datetime:
    if pulled and image.last_pulled_at is not None:
        return image.last_pulled_at
    return image.pushed_at


def _selects(rule: Rule, matcher: _Matcher, image: ImageFacts) -> bool:
    if rule.tag_status == "any":
        return True
    if rule.tag_status == "untagged":
        return not image.tags
    return matcher.matches(image.tags)


def _kept(keep: Sequence[KeepRule], candidates: Sequence[ImageFacts], now: datetime) -> set[str]:
    protected: set[str] = set()
    for rule in keep:
        matcher = _Matcher(rule.tags)
        days = rule.pulled_within_days
        for image in candidates:
            if rule.tags and not matcher.matches(image.tags):
                continue
            if days is not None and (
                image.last_pulled_at is None or image.last_pulled_at < now - days * _DAY
            ):
                continue
            protected.add(image.digest)
    return protected


def _referrers(by_digest: dict[str, ImageFacts], attached: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for digest in sorted(attached):
        subject = by_digest[digest].subject
        assert subject is not None
        found.setdefault(subject, []).append(digest)
    return found


def _follow_referrers(expired: dict[str, int], referrers: dict[str, list[str]]) -> None:
    """Add every referrer of an expired image (transitively), under its subject's rule."""
    pending = list(expired)
    while pending:
        subject = pending.pop()
        for referrer in referrers.get(subject, ()):
            if referrer not in expired:
                expired[referrer] = expired[subject]
                pending.append(referrer)


def _ordered(
    expired: dict[str, int], by_digest: dict[str, ImageFacts], referrers: dict[str, list[str]]
) -> list[Expiry]:
    subject_of = {r: s for s, found in referrers.items() for r in found}
    depth: dict[str, int] = {}

    def level(digest: str, seen: frozenset[str] = frozenset()) -> int:
        """How far below an expiring root the image sits (parents and subjects first)."""
        if digest not in depth:
            image = by_digest[digest]
            ups = [p for p in image.parents if p in expired and p not in seen]
            if digest in subject_of:
                ups.append(subject_of[digest])
            depth[digest] = 1 + max((level(u, seen | {digest}) for u in ups), default=-1)
        return depth[digest]

    order = sorted(expired, key=lambda d: (level(d), by_digest[d].pushed_at, d))
    return [
        Expiry(d, expired[d], by_digest[d].tags, by_digest[d].pushed_at, subject_of.get(d)) for d in order
    ]


class _Matcher:
    """A tag filter compiled once per rule: every entry must match at least one of the image's tags."""

    __slots__ = ("_entries",)

    def __init__(self, tags: TagFilter) -> None:
        self._entries: tuple[re.Pattern[str], ...] = tags.compiled()

    def matches(self, tags: tuple[str, ...]) -> bool:
        if not tags:
            return False
        return all(any(entry.match(tag) for tag in tags) for entry in self._entries)
