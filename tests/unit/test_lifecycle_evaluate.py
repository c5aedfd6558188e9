"""The lifecycle evaluator: AWS's documented examples (policy, images, expected result), the image graph
(indexes, referrers, orphan grace), keep rules, and hypothesis properties of ECR's semantics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.domain.lifecycle import (
    ImageFacts,
    Policy,
    Rule,
    TagFilter,
    evaluate,
    parse_policy,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def rule(priority: int, status: str, count_type: str, number: int, **selection: Any) -> dict[str, Any]:
    sel: dict[str, Any] = {"tagStatus": status, "countType": count_type, "countNumber": number, **selection}
    if count_type != "imageCountMoreThan":
        sel["countUnit"] = "days"
    return {
        "rulePriority": priority,
        "description": f"Rule {priority}",
        "selection": sel,
        "action": {"type": "expire"},
    }


def policy(*rules: dict[str, Any], **extra: Any) -> Policy:
    text = json.dumps({"rules": list(rules), **extra}, indent=2).ljust(100)
    return parse_policy(text, allow_keep_rules=True)


def image(name: str, days_ago: float, *tags: str, **facts: Any) -> ImageFacts:
    return ImageFacts(name, NOW - timedelta(days=days_ago), tuple(tags), **facts)


def expired(p: Policy, images: list[ImageFacts], now: datetime = NOW) -> set[str]:
    return {e.digest for e in evaluate(p, images, now)}


# -- AWS's documented examples ("Examples of lifecycle policies in Amazon ECR") ---------------------------

MULTI = [image("A", 10, "beta-1", "prod-1"), image("B", 9, "beta-2", "prod-2"), image("C", 8, "beta-3")]
TAGS = [
    image("A", 12, "alpha-1"),
    image("B", 11, "beta-1"),
    image("C", 10, "alpha-2", "beta-2"),
    image("D", 4, "alpha-3"),
    image("E", 3, "beta-3"),
    image("F", 2, "alpha-4", "beta-4"),
]
NOT_EXCLUSIVE = [
    image("A", 10, "alpha-1", "beta-1", "gamma-1"),
    image("B", 9, "alpha-2", "beta-2"),
    image("C", 8, "alpha-3", "beta-3", "gamma-2"),
]
ALL_A = [image("A", 4, "alpha-1"), image("B", 3, "beta-1"), image("C", 2), image("D", 1, "alpha-2")]
ALL_B = [
    image("A", 4, "alpha-1", "beta-1"),
    image("B", 3),
    image("C", 2, "alpha-2"),
    image("D", 1, "git hash"),
    image("E", 0.9),
]
UNTAGGED_AGE = [image("u1", 20), image("u2", 15), image("u3", 13), image("t", 30, "v1")]

EXAMPLES = [
    pytest.param(
        policy(rule(1, "tagged", "sinceImagePushed", 14, tagPatternList=["prod*"])),
        [image("a", 20, "prod-1"), image("b", 10, "prod-2"), image("c", 30, "dev")],
        {"a"},
        id="age-prod-pattern",
    ),
    pytest.param(
        policy(rule(1, "untagged", "sinceImagePushed", 14)), UNTAGGED_AGE, {"u1", "u2"}, id="age-untagged"
    ),
    pytest.param(
        policy(rule(1, "untagged", "imageCountMoreThan", 1)), UNTAGGED_AGE, {"u1", "u2"}, id="count-untagged"
    ),
    pytest.param(
        policy(
            rule(1, "tagged", "imageCountMoreThan", 1, tagPrefixList=["prod"]),
            rule(2, "tagged", "imageCountMoreThan", 1, tagPrefixList=["beta"]),
        ),
        MULTI,
        {"A"},
        id="multiple-rules-A",
    ),
    pytest.param(
        policy(
            rule(1, "tagged", "imageCountMoreThan", 1, tagPrefixList=["beta"]),
            rule(2, "tagged", "imageCountMoreThan", 1, tagPrefixList=["prod"]),
        ),
        MULTI,
        {"A", "B"},
        id="multiple-rules-B",
    ),
    pytest.param(
        policy(
            rule(1, "tagged", "imageCountMoreThan", 1, tagPatternList=["prod*"]),
            rule(2, "tagged", "imageCountMoreThan", 1, tagPatternList=["beta*"]),
        ),
        MULTI,
        {"A"},
        id="multiple-rules-A-patterns",
    ),
    pytest.param(
        policy(rule(1, "tagged", "sinceImagePushed", 5, tagPrefixList=["alpha", "beta"])),
        TAGS,
        {"C"},
        id="multiple-tags-A",
    ),
    pytest.param(
        policy(rule(1, "tagged", "imageCountMoreThan", 1, tagPrefixList=["alpha", "beta"])),
        NOT_EXCLUSIVE,
        {"A", "B"},
        id="multiple-tags-B",
    ),
    pytest.param(policy(rule(1, "any", "imageCountMoreThan", 1)), ALL_A, {"A", "B", "C"}, id="all-images-A"),
    pytest.param(
        policy(
            rule(1, "tagged", "imageCountMoreThan", 1, tagPatternList=["alpha*"]),
            rule(2, "untagged", "imageCountMoreThan", 1),
            rule(3, "any", "imageCountMoreThan", 1),
        ),
        ALL_B,
        {"A", "B", "D"},
        id="all-images-B",
    ),
]


@pytest.mark.parametrize(("p", "images", "expected"), EXAMPLES)
def test_aws_documented_examples(p: Policy, images: list[ImageFacts], expected: set[str]) -> None:
    assert expired(p, images) == expected


def test_applied_rule_priority_is_the_owning_rule() -> None:
    p = policy(
        rule(1, "tagged", "imageCountMoreThan", 1, tagPatternList=["alpha*"]),
        rule(2, "untagged", "imageCountMoreThan", 1),
        rule(3, "any", "imageCountMoreThan", 1),
    )
    assert {e.digest: e.rule_priority for e in evaluate(p, ALL_B, NOW)} == {"A": 1, "B": 2, "D": 3}


def test_pattern_wildcards_match_anywhere() -> None:
    p = policy(rule(1, "tagged", "imageCountMoreThan", 1, tagPatternList=["*-rc*"]))
    images = [image("a", 3, "1.0-rc1"), image("b", 2, "1.1-rc2"), image("c", 1, "rc3"), image("d", 4, "x-rc")]
    assert expired(p, images) == {"d", "a"}


def test_since_image_pulled_uses_pull_time_or_push_time() -> None:
    p = policy(rule(1, "any", "sinceImagePulled", 7))
    images = [
        image("pulled-lately", 30, last_pulled_at=NOW - timedelta(days=2)),
        image("pulled-long-ago", 30, last_pulled_at=NOW - timedelta(days=9)),
        image("never-pulled-old", 8),
        image("never-pulled-new", 6),
    ]
    assert expired(p, images) == {"pulled-long-ago", "never-pulled-old"}


# -- the image graph ------------------------------------------------------------------------------------


def test_index_children_are_protected_until_the_index_expires() -> None:
    p = policy(rule(1, "untagged", "sinceImagePushed", 1))
    images = [
        image(
            "index",
            5,
            "v1",
        ),
        image("amd64", 5, parents=frozenset({"index"})),
        image("arm64", 5, parents=frozenset({"index"})),
        image("loose", 5),
    ]
    assert expired(p, images) == {"loose"}
    p2 = policy(rule(1, "any", "sinceImagePushed", 1))
    result = evaluate(p2, images, NOW)
    assert {e.digest for e in result} == {"index", "amd64", "arm64", "loose"}
    assert [e.digest for e in result].index("index") < [e.digest for e in result].index("amd64")


def test_child_of_two_indexes_stays_while_one_survives() -> None:
    p = policy(
        rule(1, "tagged", "imageCountMoreThan", 1, tagPrefixList=["v"]),
        rule(2, "untagged", "sinceImagePushed", 1),
    )
    images = [
        image("old-index", 9, "v1"),
        image("new-index", 2, "v2"),
        image("shared", 9, parents=frozenset({"old-index", "new-index"})),
        image("only-old", 9, parents=frozenset({"old-index"})),
    ]
    assert expired(p, images) == {"old-index", "only-old"}


def test_referrers_go_with_their_subject_under_its_rule() -> None:
    p = policy(
        rule(1, "tagged", "imageCountMoreThan", 1, tagPrefixList=["v"]),
        rule(2, "untagged", "imageCountMoreThan", 10),
    )
    images = [
        image("old", 5, "v1"),
        image("new", 1, "v2"),
        image("sig-old", 5, subject="old"),
        image("sbom-of-sig", 5, subject="sig-old"),
        image("sig-new", 1, subject="new"),
    ]
    result = {e.digest: (e.rule_priority, e.with_subject) for e in evaluate(p, images, NOW)}
    assert result == {"old": (1, None), "sig-old": (1, "old"), "sbom-of-sig": (1, "sig-old")}


def test_orphan_referrer_is_kept_for_the_grace_period() -> None:
    p = policy(rule(1, "untagged", "sinceImagePushed", 1))
    images = [image("orphan", 1.5, subject="never-pushed"), image("u1", 3), image("u2", 0.5)]
    grace = timedelta(days=2)
    assert [e.digest for e in evaluate(p, images, NOW, grace)] == ["u1"]
    later = NOW + timedelta(days=1)  # past the grace: an ordinary untagged image now
    assert [e.digest for e in evaluate(p, images, later, grace)] == ["u1", "orphan", "u2"]
    with_subject = [*images, image("never-pushed", 0.1, "v1")]
    assert [e.digest for e in evaluate(p, with_subject, later, grace)] == [
        "u1",
        "u2",
    ]  # goes with its subject


def test_keep_rules_protect_from_every_rule_but_count_in_windows() -> None:
    keep = [{"tagPatternList": ["release-*"]}, {"pulledWithinDays": 3}]
    p = policy(rule(1, "any", "imageCountMoreThan", 1), dockyardKeepRules=keep)
    images = [
        image("rel", 10, "release-1"),
        image("hot", 9, last_pulled_at=NOW - timedelta(days=1)),
        image("cold", 8, last_pulled_at=NOW - timedelta(days=5)),
        image("newest", 1),
    ]
    assert expired(p, images) == {"cold"}


# -- properties -----------------------------------------------------------------------------------------

TAG_WORDS = ["prod-1", "prod-2", "beta-1", "beta-2", "dev", "v1", "v2"]


@st.composite
def images_strategy(draw: st.DrawFn) -> list[ImageFacts]:
    count = draw(st.integers(0, 25))
    found: list[ImageFacts] = []
    for n in range(count):
        tags = tuple(sorted(draw(st.sets(st.sampled_from(TAG_WORDS), max_size=3))))
        pushed = NOW - timedelta(hours=draw(st.integers(0, 24 * 40)))
        pulled = draw(st.none() | st.integers(0, 24 * 40).map(lambda h: NOW - timedelta(hours=h)))
        earlier = [i.digest for i in found]
        parents = (
            frozenset(draw(st.sets(st.sampled_from(earlier), max_size=2)))
            if earlier and not tags
            else frozenset()
        )
        subject = (
            draw(st.none() | st.sampled_from([*earlier, "missing"])) if earlier and not parents else None
        )
        found.append(ImageFacts(f"d{n}", pushed, tags, pulled, parents, subject))
    return found


@st.composite
def rules_strategy(draw: st.DrawFn) -> list[Rule]:
    rules: list[Rule] = []
    count = draw(st.integers(1, 4))
    statuses = draw(
        st.lists(st.sampled_from(["tagged", "tagged", "untagged"]), min_size=count, max_size=count)
    )
    if draw(st.booleans()):
        statuses[-1] = "any"
    untagged_seen = False
    for priority, status in enumerate(statuses, start=1):
        if status == "untagged":
            if untagged_seen:
                status = "tagged"
            untagged_seen = True
        tags = TagFilter()
        if status == "tagged":
            entries = tuple(
                draw(st.lists(st.sampled_from(["prod", "beta", "v", "dev"]), min_size=1, max_size=2))
            )
            tags = (
                TagFilter(prefixes=entries)
                if draw(st.booleans())
                else TagFilter(patterns=tuple(f"{e}*" for e in entries))
            )
        count_type = draw(st.sampled_from(["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled"]))
        rules.append(Rule(priority * 10, status, tags, count_type, draw(st.integers(1, 10))))  # type: ignore[arg-type]
    return rules


def _selected_by(r: Rule, i: ImageFacts) -> bool:
    if r.tag_status == "any":
        return True
    if r.tag_status == "untagged":
        return not i.tags
    entries = r.tags.compiled()
    return bool(i.tags) and all(any(e.match(t) for t in i.tags) for e in entries)


@settings(max_examples=120, deadline=None)
@given(images_strategy(), rules_strategy())
def test_running_twice_expires_nothing_more(images: list[ImageFacts], rules: list[Rule]) -> None:
    p = Policy(tuple(rules))
    gone = {e.digest for e in evaluate(p, images, NOW)}
    survivors = [i for i in images if i.digest not in gone]
    assert evaluate(p, survivors, NOW) == []


@settings(max_examples=120, deadline=None)
@given(images_strategy(), rules_strategy())
def test_no_image_selected_by_a_higher_rule_is_expired_by_a_lower_one(
    images: list[ImageFacts], rules: list[Rule]
) -> None:
    by_digest = {i.digest: i for i in images}
    for e in evaluate(Policy(tuple(rules)), images, NOW):
        if e.with_subject is None:
            higher = [r for r in rules if r.priority < e.rule_priority]
            assert not any(_selected_by(r, by_digest[e.digest]) for r in higher)
            assert any(_selected_by(r, by_digest[e.digest]) for r in rules if r.priority == e.rule_priority)


@settings(max_examples=120, deadline=None)
@given(images_strategy(), rules_strategy())
def test_preview_is_the_same_whatever_the_order_of_images(
    images: list[ImageFacts], rules: list[Rule]
) -> None:
    p = Policy(tuple(rules))
    assert evaluate(p, images, NOW) == evaluate(p, list(reversed(images)), NOW)


@settings(max_examples=120, deadline=None)
@given(images_strategy(), st.integers(1, 8), st.sampled_from(["any", "untagged", "prod"]))
def test_image_count_more_than_n_leaves_exactly_n_selected(
    images: list[ImageFacts], n: int, what: str
) -> None:
    images = [ImageFacts(i.digest, i.pushed_at, i.tags, i.last_pulled_at) for i in images]  # no graph
    tags = TagFilter(prefixes=(what,)) if what == "prod" else TagFilter()
    status = "tagged" if what == "prod" else what
    r = Rule(1, status, tags, "imageCountMoreThan", n)  # type: ignore[arg-type]
    gone = {e.digest for e in evaluate(Policy((r,)), images, NOW)}
    selected = [i for i in images if _selected_by(r, i)]
    survivors = [i for i in selected if i.digest not in gone]
    assert len(survivors) == min(n, len(selected))
    if survivors and len(selected) > n:  # the newest survive
        assert min(i.pushed_at for i in survivors) >= max(i.pushed_at for i in selected if i.digest in gone)
