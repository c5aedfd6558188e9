"""Properties of the evaluation logic over generated policies and requests:

- an explicit deny wins, whatever else is attached;
- the order of statements and of policies never changes the decision;
- adding an Allow never turns an allow into a deny, adding a Deny never turns a deny into an allow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.domain.iam import (
    Decision,
    Policy,
    PolicyKind,
    Principal,
    RequestContext,
    Statement,
    evaluate,
    parse_policy,
)

ME, OTHER = "111122223333", "444455556666"
REPO = f"arn:aws:ecr:us-east-1:{ME}:repository/app"
OTHER_REPO = f"arn:aws:ecr:us-east-1:{OTHER}:repository/app"
PRINCIPALS = [
    Principal.user(ME, "bob", tags={"team": "blue"}),
    Principal.user(OTHER, "eve"),
    Principal.assumed_role(ME, "builder", "ci", tags={"team": "blue"}),
    Principal.assumed_role(OTHER, "auditor", "s"),
    Principal.federated_user(ME, "fed", user_arn=f"arn:aws:iam::{ME}:user/bob"),
    Principal.root(ME),
    Principal.root(OTHER),
    Principal.anonymous(),
    Principal.service("codebuild.amazonaws.com"),
]
ACTIONS = [
    "ecr:BatchGetImage",
    "ecr:PutImage",
    "ecr:*",
    "*",
    "s3:GetObject",
    "ecr:Batch*",
    "ECR:batchgetimage",
]
RESOURCES = [
    "*",
    REPO,
    "arn:aws:ecr:*:*:repository/a*",
    f"arn:aws:ecr:*:{OTHER}:repository/*",
    "arn:aws:ecr:*",
]
PRINCIPAL_VALUES: list[Any] = [
    "*",
    {"AWS": ME},
    {"AWS": f"arn:aws:iam::{OTHER}:root"},
    {"AWS": f"arn:aws:iam::{ME}:user/bob"},
    {"AWS": f"arn:aws:iam::{ME}:role/builder"},
    {"AWS": f"arn:aws:sts::{ME}:assumed-role/builder/ci"},
    {"AWS": [f"arn:aws:iam::{OTHER}:user/eve", f"arn:aws:sts::{ME}:federated-user/fed"]},
    {"Service": "codebuild.amazonaws.com"},
]
CONDITIONS: list[dict[str, Any]] = [
    {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringNotEquals": {"aws:username": "bob"}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}},
    {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}},
]


def random_statement(rnd: random.Random, kind: PolicyKind, effect: str) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect}
    actions = rnd.sample(ACTIONS, rnd.randint(1, 2))
    statement["NotAction" if rnd.random() < 0.2 else "Action"] = actions
    if kind is PolicyKind.IDENTITY or rnd.random() < 0.5:
        statement["NotResource" if rnd.random() < 0.2 else "Resource"] = rnd.sample(
            RESOURCES, rnd.randint(1, 2)
        )
    if kind is PolicyKind.RESOURCE:
        statement["NotPrincipal" if rnd.random() < 0.15 else "Principal"] = rnd.choice(PRINCIPAL_VALUES)
    if rnd.random() < 0.3:
        statement["Condition"] = rnd.choice(CONDITIONS)
    return statement


def statement_pool(kind: PolicyKind, effect: str, size: int = 300) -> list[Statement]:
    """Generated once: drawing from a pool keeps hypothesis fast while covering every element form."""
    rnd = random.Random(f"{kind}-{effect}")
    documents = [{"Statement": random_statement(rnd, kind, effect)} for _ in range(size)]
    return [parse_policy(document, kind).statements[0] for document in documents]


POOL = {
    (kind, effect): statement_pool(kind, effect)
    for kind in (PolicyKind.IDENTITY, PolicyKind.RESOURCE)
    for effect in ("Allow", "Deny")
}


def _pick(pool: list[Statement]) -> st.SearchStrategy[Statement]:
    return st.integers(0, len(pool) - 1).map(pool.__getitem__)  # indexes: hypothesis never hashes the pool


STATEMENTS = {key: _pick(pool) for key, pool in POOL.items()}


def statements(kind: PolicyKind, effect: str | None = None) -> st.SearchStrategy[Statement]:
    if effect is not None:
        return STATEMENTS[kind, effect]
    return st.one_of(STATEMENTS[kind, "Allow"], STATEMENTS[kind, "Deny"])


def _policies(kind: PolicyKind) -> st.SearchStrategy[Policy]:
    return st.builds(
        lambda body, version: Policy(tuple(body), kind, version),
        st.lists(statements(kind), min_size=1, max_size=4),
        st.sampled_from(["2012-10-17", "2008-10-17", None]),
    )


POLICIES = {kind: _policies(kind) for kind in (PolicyKind.IDENTITY, PolicyKind.RESOURCE)}
ALLOW_STATEMENTS = st.one_of(
    STATEMENTS[PolicyKind.IDENTITY, "Allow"], STATEMENTS[PolicyKind.RESOURCE, "Allow"]
)
DENY_STATEMENTS = st.one_of(STATEMENTS[PolicyKind.IDENTITY, "Deny"], STATEMENTS[PolicyKind.RESOURCE, "Deny"])


@dataclass(frozen=True)
class Scenario:
    context: RequestContext
    identity: tuple[Policy, ...]
    resource: tuple[Policy, ...]
    session: tuple[Policy, ...] | None
    boundary: Policy | None

    def decide(self) -> Decision:
        return evaluate(self.context, self.identity, self.resource, self.session, self.boundary)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    keys: dict[str, Any] = {"aws:SecureTransport": draw(st.sampled_from(["true", "false"]))}
    if draw(st.booleans()):
        keys["aws:TagKeys"] = draw(st.lists(st.sampled_from(["a", "b"]), max_size=2))
    context = RequestContext(
        draw(st.sampled_from(PRINCIPALS)),
        draw(st.sampled_from(["ecr:BatchGetImage", "ecr:PutImage", "s3:GetObject"])),
        draw(st.sampled_from([REPO, OTHER_REPO])),
        keys=keys,
    )
    identity = POLICIES[PolicyKind.IDENTITY]
    return Scenario(
        context,
        tuple(draw(st.lists(identity, max_size=3))),
        tuple(draw(st.lists(POLICIES[PolicyKind.RESOURCE], max_size=2))),
        draw(st.none() | st.lists(identity, max_size=2).map(tuple)),
        draw(st.none() | identity),
    )


def outcome(decision: Decision) -> tuple[bool, str]:
    return decision.allowed, decision.reason.value


DENY_ALL_IDENTITY = parse_policy({"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}})
DENY_ALL_RESOURCE = parse_policy(
    {"Statement": {"Effect": "Deny", "Principal": "*", "Action": "*"}}, "resource"
)


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.booleans(), st.randoms(use_true_random=False))
def test_an_explicit_deny_always_wins(scenario: Scenario, in_identity: bool, rnd: random.Random) -> None:
    if in_identity:
        identity = list(scenario.identity)
        identity.insert(rnd.randint(0, len(identity)), DENY_ALL_IDENTITY)
        scenario = replace(scenario, identity=tuple(identity))
    else:
        resource = list(scenario.resource)
        resource.insert(rnd.randint(0, len(resource)), DENY_ALL_RESOURCE)
        scenario = replace(scenario, resource=tuple(resource))
    decision = scenario.decide()
    assert not decision.allowed
    assert decision.reason.explicit


def shuffled(policy: Policy, rnd: random.Random) -> Policy:
    body = list(policy.statements)
    rnd.shuffle(body)
    return replace(policy, statements=tuple(body))


def shuffled_all(group: tuple[Policy, ...], rnd: random.Random) -> tuple[Policy, ...]:
    result = [shuffled(policy, rnd) for policy in group]
    rnd.shuffle(result)
    return tuple(result)


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_order_of_statements_and_policies_does_not_matter(scenario: Scenario, rnd: random.Random) -> None:
    before = outcome(scenario.decide())
    reordered = replace(
        scenario,
        identity=shuffled_all(scenario.identity, rnd),
        resource=shuffled_all(scenario.resource, rnd),
        session=None if scenario.session is None else shuffled_all(scenario.session, rnd),
        boundary=None if scenario.boundary is None else shuffled(scenario.boundary, rnd),
    )
    assert outcome(reordered.decide()) == before


def grown(
    group: tuple[Policy, ...], statement: Statement, kind: PolicyKind, rnd: random.Random
) -> tuple[Policy, ...]:
    """``group`` with ``statement`` added to one of its policies, or as a new policy."""
    if not group or rnd.random() < 0.3:
        return (*group, Policy((statement,), kind, "2012-10-17"))
    index = rnd.randrange(len(group))
    policy = replace(group[index], statements=(*group[index].statements, statement))
    return (*group[:index], policy, *group[index + 1 :])


def with_statement(scenario: Scenario, target: int, statement: Statement, rnd: random.Random) -> Scenario:
    """Add ``statement`` to the resource policies, or to the identity, session or boundary policies."""
    if statement.principal is not None:
        return replace(scenario, resource=grown(scenario.resource, statement, PolicyKind.RESOURCE, rnd))
    if target == 1 and scenario.session:
        return replace(scenario, session=grown(scenario.session, statement, PolicyKind.IDENTITY, rnd))
    if target == 2 and scenario.boundary is not None:
        boundary = scenario.boundary
        return replace(scenario, boundary=replace(boundary, statements=(*boundary.statements, statement)))
    return replace(scenario, identity=grown(scenario.identity, statement, PolicyKind.IDENTITY, rnd))


@settings(max_examples=200, deadline=None)
@given(
    scenarios(),
    ALLOW_STATEMENTS,
    st.integers(0, 2),
    st.randoms(use_true_random=False),
)
def test_adding_an_allow_never_turns_an_allow_into_a_deny(
    scenario: Scenario, statement: Statement, target: int, rnd: random.Random
) -> None:
    before = scenario.decide()
    after = with_statement(scenario, target, statement, rnd).decide()
    if before.allowed:
        assert after.allowed


@settings(max_examples=200, deadline=None)
@given(
    scenarios(),
    DENY_STATEMENTS,
    st.integers(0, 2),
    st.randoms(use_true_random=False),
)
def test_adding_a_deny_never_turns_a_deny_into_an_allow(
    scenario: Scenario, statement: Statement, target: int, rnd: random.Random
) -> None:
    before = scenario.decide()
    after = with_statement(scenario, target, statement, rnd).decide()
    if not before.allowed:
        assert not after.allowed
    if after.allowed:
        assert before.allowed


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_decisions_are_consistent(scenario: Scenario) -> None:
    decision = scenario.decide()
    assert decision.allowed is (decision.reason.value == "ALLOWED")
    if not decision.allowed:
        context = scenario.context
        assert decision.message_for(context).startswith(f"User: {context.principal.arn} is not authorized")
    assert outcome(scenario.decide()) == outcome(decision)
