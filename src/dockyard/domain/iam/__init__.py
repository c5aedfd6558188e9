"""The IAM policy language and AWS's policy evaluation logic. Pure: no I/O, no HTTP, no database.

policy = parse_policy(text, PolicyKind.RESOURCE)
context = RequestContext(Principal.user("123456789012", "bob"), "ecr:BatchGetImage", repository_arn)
decision = evaluate(context, identity_policies, [policy])
if not decision.allowed:
    raise AccessDenied(decision.message_for(context))
"""

from dockyard.domain.iam.conditions import Condition, Qualifier, parse_date
from dockyard.domain.iam.context import Principal, PrincipalType, RequestContext
from dockyard.domain.iam.errors import AccessDenied, IamError, MalformedPolicyDocument
from dockyard.domain.iam.evaluation import Decision, MatchedStatement, PolicyType, Reason, evaluate
from dockyard.domain.iam.patterns import arn_match, wildcard_match
from dockyard.domain.iam.policy import Effect, Policy, PolicyKind, Statement, ValueSet, parse_policy
from dockyard.domain.iam.principals import PrincipalSpec

__all__ = [
    "AccessDenied",
    "Condition",
    "Decision",
    "Effect",
    "IamError",
    "MalformedPolicyDocument",
    "MatchedStatement",
    "Policy",
    "PolicyKind",
    "PolicyType",
    "Principal",
    "PrincipalSpec",
    "PrincipalType",
    "Qualifier",
    "Reason",
    "RequestContext",
    "Statement",
    "ValueSet",
    "arn_match",
    "evaluate",
    "parse_date",
    "parse_policy",
    "wildcard_match",
]
