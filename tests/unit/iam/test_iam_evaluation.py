"""Policy evaluation, table-driven from the IAM User Guide's examples: "Policy evaluation logic",
"Determining whether a request is allowed or denied within an account" (with its table of resource-based
policies and implicit denies), "Cross-account policy evaluation logic", "Permissions boundaries",
"Session policies", "NotPrincipal", and the Amazon ECR repository policy examples."""

# ruff: noqa: E501 -- one table row per line reads better than a wrapped one

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from dockyard.domain.iam import (
    Decision,
    Policy,
    PolicyKind,
    Principal,
    Reason,
    RequestContext,
    evaluate,
    parse_policy,
)

ME = "111122223333"  # the account that owns the resources
OTHER = "444455556666"
V = "2012-10-17"


def identity(*statements: dict[str, Any], version: str = V) -> Policy:
    return parse_policy({"Version": version, "Statement": list(statements)}, PolicyKind.IDENTITY)


def resource(*statements: dict[str, Any], version: str = V) -> Policy:
    return parse_policy({"Version": version, "Statement": list(statements)}, PolicyKind.RESOURCE)


def trust(*statements: dict[str, Any]) -> Policy:
    return parse_policy({"Version": V, "Statement": list(statements)}, PolicyKind.TRUST)


def allow(action: Any, res: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": res, **more}


def deny(action: Any, res: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": res, **more}


def grant(principal: Any, action: Any, **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, **more}


def refuse(principal: Any, action: Any, **more: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": principal, "Action": action, **more}


def repo(name: str, account: str = ME) -> str:
    return f"arn:aws:ecr:us-east-1:{account}:repository/{name}"


PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
PUSH = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
]

CARLOS = Principal.user("123456789012", "carlossalazar")
BOB = Principal.user(ME, "bob")
ALICE = Principal.user(ME, "alice", path="/division_abc/subdivision_xyz/")
OUTSIDER = Principal.user(OTHER, "bob")
SESSION = Principal.assumed_role(ME, "builder", "ci-42", role_id="AROAEXAMPLEBUILDER01")
OUTSIDE_SESSION = Principal.assumed_role(OTHER, "cross-account-read-only-role", "cross-account-audit-app")
FEDERATED = Principal.federated_user(ME, "fed", user_arn=f"arn:aws:iam::{ME}:user/bob")
ROOT = Principal.root(ME)
OUTSIDE_ROOT = Principal.root(OTHER)
CODEBUILD = Principal.service("codebuild.amazonaws.com")

# IAM User Guide, "Example identity-based and resource-based policy evaluation".
CARLOS_POLICY = identity(
    {
        "Sid": "AllowS3ListRead",
        "Effect": "Allow",
        "Action": ["s3:GetBucketLocation", "s3:GetAccountPublicAccessBlock", "s3:ListAccessPoints", "s3:ListAllMyBuckets"],
        "Resource": "arn:aws:s3:::*",
    },
    {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"]},
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
)  # fmt: skip
CARLOS_BUCKET = resource(
    {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:user/carlossalazar"},
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
    }
)
# "The difference between explicit and implicit denies".
GET_LIST_NO_REPORTS = identity(
    {"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
    {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
)
# "Permissions boundaries for IAM entities": ShirleyRodriguez.
SHIRLEY_BOUNDARY = identity(allow(["s3:*", "cloudwatch:*", "ec2:*"]))
CREATE_USER = identity(allow("iam:CreateUser"))
# ... and María's delegation to Zhang.
DELEGATED_USER_BOUNDARY = identity(
    {
        "Sid": "CreateOrChangeOnlyWithBoundary",
        "Effect": "Allow",
        "Action": ["iam:CreateUser", "iam:DeleteUserPolicy", "iam:AttachUserPolicy", "iam:DetachUserPolicy", "iam:PutUserPermissionsBoundary"],
        "Resource": "*",
        "Condition": {"StringEquals": {"iam:PermissionsBoundary": "arn:aws:iam::111122223333:policy/XCompanyBoundaries"}},
    },
    {"Sid": "CloudWatchAndOtherIAMTasks", "Effect": "Allow", "Action": ["cloudwatch:*", "iam:GetUser", "iam:ListUsers", "iam:CreatePolicy", "iam:DeletePolicy"], "Resource": "*"},
    {
        "Sid": "NoBoundaryPolicyEdit",
        "Effect": "Deny",
        "Action": ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"],
        "Resource": ["arn:aws:iam::123456789012:policy/XCompanyBoundaries", "arn:aws:iam::123456789012:policy/DelegatedUserBoundary"],
    },
    {"Sid": "NoBoundaryUserDelete", "Effect": "Deny", "Action": "iam:DeleteUserPermissionsBoundary", "Resource": "*"},
)  # fmt: skip
DELEGATED_USER_PERMISSIONS = identity({"Sid": "IAM", "Effect": "Allow", "Action": "iam:*", "Resource": "*"})
ONLY_CALLER_IDENTITY = identity(allow("sts:GetCallerIdentity"))
# Amazon ECR, "Private repository policy examples".
ECR_ALLOW_USERS = resource(
    grant({"AWS": [f"arn:aws:iam::{ME}:user/push-pull-user-1", f"arn:aws:iam::{ME}:user/bob"]}, PULL + PUSH, Sid="AllowPushPull")
)  # fmt: skip
ECR_CROSS_ACCOUNT_PUSH = resource(
    grant({"AWS": f"arn:aws:iam::{OTHER}:root"}, PUSH, Sid="AllowCrossAccountPush")
)
ECR_CODEBUILD = resource(
    grant(
        {"Service": "codebuild.amazonaws.com"},
        PULL,
        Sid="CodeBuildAccess",
        Condition={"ArnLike": {"aws:SourceArn": f"arn:aws:codebuild:us-east-1:{ME}:project/*"}, "StringEquals": {"aws:SourceAccount": ME}},
    )
)  # fmt: skip
ECR_DENY_ALL = resource(refuse("*", "ecr:*", Sid="DenyAll"))
ECR_PUBLIC_PULL = resource(grant("*", PULL, Sid="AllowPublicPull"))
ECR_PUSH_IDENTITY = identity(allow([*PUSH, "ecr:BatchGetImage"], repo("repository-name")), allow("ecr:GetAuthorizationToken"))  # fmt: skip
ADMIN = identity(allow("*"))


@dataclass
class Case:
    name: str
    principal: Principal
    action: str
    resource: str
    expected: Reason
    identity: list[Policy] = field(default_factory=list)
    resource_policies: list[Policy] = field(default_factory=list)
    session: list[Policy] | None = None
    boundary: Policy | None = None
    keys: dict[str, Any] = field(default_factory=dict)
    require_resource_allow: bool = False
    message: str | None = None

    def decide(self) -> Decision:
        context = RequestContext(self.principal, self.action, self.resource, keys=self.keys)
        return evaluate(
            context,
            self.identity,
            self.resource_policies,
            self.session,
            self.boundary,
            require_resource_allow=self.require_resource_allow,
        )


CASES = [
    # --- "Example identity-based and resource-based policy evaluation" (Carlos) ---
    Case("carlos: explicit deny on the logs bucket wins over both allows", CARLOS, "s3:PutObject",
         "arn:aws:s3:::carlossalazar-logs/file", Reason.EXPLICIT_DENY_IDENTITY, [CARLOS_POLICY], [CARLOS_BUCKET],
         message="User: arn:aws:iam::123456789012:user/carlossalazar is not authorized to perform: s3:PutObject "
         "on resource: arn:aws:s3:::carlossalazar-logs/file with an explicit deny in an identity-based policy"),
    Case("carlos: both policies allow his own bucket", CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/file",
         Reason.ALLOWED, [CARLOS_POLICY], [CARLOS_BUCKET]),
    Case("carlos: the bucket policy alone is enough in one account", CARLOS, "s3:PutObject",
         "arn:aws:s3:::carlossalazar/file", Reason.ALLOWED, [], [CARLOS_BUCKET]),
    Case("carlos: the identity policy alone is enough in one account", CARLOS, "s3:PutObject",
         "arn:aws:s3:::carlossalazar/file", Reason.ALLOWED, [CARLOS_POLICY]),
    Case("carlos: list actions on any bucket", CARLOS, "s3:GetBucketLocation", "arn:aws:s3:::someone-else",
         Reason.ALLOWED, [CARLOS_POLICY]),
    Case("carlos: nothing else", CARLOS, "s3:GetObject", "arn:aws:s3:::someone-else/x", Reason.NO_IDENTITY_ALLOW,
         [CARLOS_POLICY], [CARLOS_BUCKET]),
    # --- "The difference between explicit and implicit denies" ---
    Case("Get*/List* allowed", BOB, "iam:GetUser", f"arn:aws:iam::{ME}:user/bob", Reason.ALLOWED, [GET_LIST_NO_REPORTS]),
    Case("other IAM actions implicitly denied", BOB, "iam:CreatePolicy", f"arn:aws:iam::{ME}:policy/p",
         Reason.NO_IDENTITY_ALLOW, [GET_LIST_NO_REPORTS]),
    Case("reports explicitly denied", BOB, "iam:GetOrganizationsAccessReport", "*", Reason.EXPLICIT_DENY_IDENTITY,
         [GET_LIST_NO_REPORTS]),
    Case("a second policy cannot undo the explicit deny", BOB, "iam:GenerateCredentialReport", "*",
         Reason.EXPLICIT_DENY_IDENTITY, [GET_LIST_NO_REPORTS, identity(allow("iam:GenerateCredentialReport"))]),
    # --- Permissions boundaries: Shirley ---
    Case("shirley: the boundary does not allow IAM", BOB, "iam:CreateUser", f"arn:aws:iam::{ME}:user/new",
         Reason.NO_BOUNDARY_ALLOW, [CREATE_USER], boundary=SHIRLEY_BOUNDARY,
         message=f"User: arn:aws:iam::{ME}:user/bob is not authorized to perform: iam:CreateUser on resource: "
         f"arn:aws:iam::{ME}:user/new because no permissions boundary allows the iam:CreateUser action"),
    Case("shirley: a boundary grants nothing by itself", BOB, "s3:GetObject", "arn:aws:s3:::b/k",
         Reason.NO_IDENTITY_ALLOW, [], boundary=SHIRLEY_BOUNDARY),
    Case("shirley: boundary and identity both allow", BOB, "s3:GetObject", "arn:aws:s3:::b/k", Reason.ALLOWED,
         [ADMIN], boundary=SHIRLEY_BOUNDARY),
    # --- Permissions boundaries: Zhang ---
    Case("zhang: create a user with the right boundary", BOB, "iam:CreateUser", f"arn:aws:iam::{ME}:user/new",
         Reason.ALLOWED, [DELEGATED_USER_PERMISSIONS], boundary=DELEGATED_USER_BOUNDARY,
         keys={"iam:PermissionsBoundary": "arn:aws:iam::111122223333:policy/XCompanyBoundaries"}),
    Case("zhang: create a user with another boundary", BOB, "iam:CreateUser", f"arn:aws:iam::{ME}:user/new",
         Reason.NO_BOUNDARY_ALLOW, [DELEGATED_USER_PERMISSIONS], boundary=DELEGATED_USER_BOUNDARY,
         keys={"iam:PermissionsBoundary": "arn:aws:iam::111122223333:policy/AdministratorAccess"}),
    Case("zhang: cannot delete a boundary", BOB, "iam:DeleteUserPermissionsBoundary", f"arn:aws:iam::{ME}:user/x",
         Reason.EXPLICIT_DENY_BOUNDARY, [DELEGATED_USER_PERMISSIONS], boundary=DELEGATED_USER_BOUNDARY,
         message=f"User: arn:aws:iam::{ME}:user/bob is not authorized to perform: iam:DeleteUserPermissionsBoundary "
         f"on resource: arn:aws:iam::{ME}:user/x with an explicit deny in a permissions boundary"),
    Case("zhang: cannot edit the boundary policy", BOB, "iam:DeletePolicy",
         "arn:aws:iam::123456789012:policy/XCompanyBoundaries", Reason.EXPLICIT_DENY_BOUNDARY,
         [DELEGATED_USER_PERMISSIONS], boundary=DELEGATED_USER_BOUNDARY),
    Case("zhang: may delete other policies", BOB, "iam:DeletePolicy", f"arn:aws:iam::{ME}:policy/Other",
         Reason.ALLOWED, [DELEGATED_USER_PERMISSIONS], boundary=DELEGATED_USER_BOUNDARY),
    Case("zhang: roles are outside his boundary", BOB, "iam:CreateRole", f"arn:aws:iam::{ME}:role/r",
         Reason.NO_BOUNDARY_ALLOW, [DELEGATED_USER_PERMISSIONS], boundary=DELEGATED_USER_BOUNDARY),
    # --- Same account: resource-based policies and implicit denies in other policy types ---
    Case("user ARN in a resource policy: no identity policy needed", BOB, "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [], [ECR_ALLOW_USERS]),
    Case("user ARN in a resource policy: boundary does not limit it", BOB, "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [ONLY_CALLER_IDENTITY], [ECR_ALLOW_USERS], boundary=ONLY_CALLER_IDENTITY),
    Case("user not named, no identity policy", ALICE, "ecr:BatchGetImage", repo("app"), Reason.NO_IDENTITY_ALLOW,
         [], [ECR_ALLOW_USERS],
         message=f"User: arn:aws:iam::{ME}:user/division_abc/subdivision_xyz/alice is not authorized to perform: "
         f"ecr:BatchGetImage on resource: {repo('app')} because no identity-based policy allows the "
         "ecr:BatchGetImage action"),
    Case("role ARN in a resource policy grants its sessions", SESSION, "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [], [resource(grant({"AWS": f"arn:aws:iam::{ME}:role/builder"}, PULL))]),
    Case("role ARN grant is limited by the role's boundary", SESSION, "ecr:BatchGetImage", repo("app"),
         Reason.NO_BOUNDARY_ALLOW, [], [resource(grant({"AWS": f"arn:aws:iam::{ME}:role/builder"}, PULL))],
         boundary=ONLY_CALLER_IDENTITY),
    Case("role ARN grant is limited by the session policy", SESSION, "ecr:BatchGetImage", repo("app"),
         Reason.NO_SESSION_ALLOW, [], [resource(grant({"AWS": f"arn:aws:iam::{ME}:role/builder"}, PULL))],
         session=[ONLY_CALLER_IDENTITY],
         message=f"User: arn:aws:sts::{ME}:assumed-role/builder/ci-42 is not authorized to perform: "
         f"ecr:BatchGetImage on resource: {repo('app')} because no session policy allows the ecr:BatchGetImage action"),
    Case("role ARN grant passes an allowing session policy", SESSION, "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [], [resource(grant({"AWS": f"arn:aws:iam::{ME}:role/builder"}, PULL))],
         session=[identity(allow("ecr:*"))]),
    Case("session ARN grant ignores boundary and session policy", SESSION, "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [], [resource(grant({"AWS": f"arn:aws:sts::{ME}:assumed-role/builder/ci-42"}, PULL))],
         session=[ONLY_CALLER_IDENTITY], boundary=ONLY_CALLER_IDENTITY),
    Case("another session of the role is not named", Principal.assumed_role(ME, "builder", "other"),
         "ecr:BatchGetImage", repo("app"), Reason.NO_IDENTITY_ALLOW, [],
         [resource(grant({"AWS": f"arn:aws:sts::{ME}:assumed-role/builder/ci-42"}, PULL))]),
    Case("role unique ID grants its sessions", SESSION, "ecr:BatchGetImage", repo("app"), Reason.ALLOWED, [],
         [resource(grant({"AWS": "AROAEXAMPLEBUILDER01"}, PULL))]),
    Case("role session: identity allow limited by the session policy", SESSION, "ecr:PutImage", repo("app"),
         Reason.NO_SESSION_ALLOW, [ADMIN], session=[identity(allow(PULL))]),
    Case("role session: identity allow within the session policy", SESSION, "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [ADMIN], session=[identity(allow(PULL))]),
    Case("role session: an empty set of session policies allows nothing", SESSION, "ecr:BatchGetImage",
         repo("app"), Reason.NO_SESSION_ALLOW, [ADMIN], session=[]),
    Case("role session: explicit deny in the session policy", SESSION, "ecr:PutImage", repo("app"),
         Reason.EXPLICIT_DENY_SESSION, [ADMIN], session=[identity(allow("*"), deny("ecr:PutImage"))],
         message=f"User: arn:aws:sts::{ME}:assumed-role/builder/ci-42 is not authorized to perform: ecr:PutImage "
         f"on resource: {repo('app')} with an explicit deny in a session policy"),
    Case("role session without a session policy keeps the role's permissions", SESSION, "ecr:PutImage",
         repo("app"), Reason.ALLOWED, [ADMIN]),
    Case("federated user: federated-user ARN grant stands alone", FEDERATED, "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [], [resource(grant({"AWS": f"arn:aws:sts::{ME}:federated-user/fed"}, PULL))]),
    Case("federated user: grant to the user behind it needs a session policy", FEDERATED, "ecr:BatchGetImage",
         repo("app"), Reason.NO_SESSION_ALLOW, [], [resource(grant({"AWS": f"arn:aws:iam::{ME}:user/bob"}, PULL))]),
    Case("federated user: grant to the user behind it, session policy allows", FEDERATED, "ecr:BatchGetImage",
         repo("app"), Reason.ALLOWED, [], [resource(grant({"AWS": f"arn:aws:iam::{ME}:user/bob"}, PULL))],
         session=[identity(allow("ecr:*"))]),
    Case("federated user: identity policies need a session policy", FEDERATED, "ecr:BatchGetImage", repo("app"),
         Reason.NO_SESSION_ALLOW, [ADMIN]),
    Case("federated user: identity and session policy allow", FEDERATED, "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [ADMIN], session=[identity(allow("ecr:*"))]),
    Case("account principal delegates to identity policies", BOB, "ecr:BatchGetImage", repo("app"),
         Reason.NO_IDENTITY_ALLOW, [], [resource(grant({"AWS": ME}, PULL))]),
    Case("account principal plus an identity allow", BOB, "ecr:BatchGetImage", repo("app"), Reason.ALLOWED,
         [identity(allow("ecr:*"))], [resource(grant({"AWS": f"arn:aws:iam::{ME}:root"}, PULL))]),
    Case("'*' with aws:PrincipalArn is not limited by boundaries", SESSION, "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [], [resource(grant("*", PULL, Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ME}:role/builder"}}))],
         session=[ONLY_CALLER_IDENTITY], boundary=ONLY_CALLER_IDENTITY),
    Case("'*' with a condition that fails", BOB, "ecr:BatchGetImage", repo("app"), Reason.NO_IDENTITY_ALLOW, [],
         [resource(grant("*", PULL, Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ME}:role/builder"}}))]),
    Case("resource policy allows a different action only", BOB, "ecr:PutImage", repo("app"),
         Reason.NO_IDENTITY_ALLOW, [], [resource(grant({"AWS": f"arn:aws:iam::{ME}:user/bob"}, PULL))]),
    Case("resource policy with Resource scoped to another repository", BOB, "ecr:BatchGetImage", repo("app"),
         Reason.NO_IDENTITY_ALLOW, [], [resource(grant({"AWS": f"arn:aws:iam::{ME}:user/bob"}, PULL, Resource=repo("other")))]),
    Case("explicit deny in a repository policy beats an admin", BOB, "ecr:BatchGetImage", repo("app"),
         Reason.EXPLICIT_DENY_RESOURCE, [ADMIN], [ECR_DENY_ALL],
         message=f"User: arn:aws:iam::{ME}:user/bob is not authorized to perform: ecr:BatchGetImage on resource: "
         f"{repo('app')} with an explicit deny in a resource-based policy"),
    Case("identity deny reported before a resource deny", BOB, "ecr:BatchGetImage", repo("app"),
         Reason.EXPLICIT_DENY_IDENTITY, [identity(deny("ecr:*"))], [ECR_DENY_ALL]),
    Case("ECR push policy: its repository", BOB, "ecr:PutImage", repo("repository-name"), Reason.ALLOWED,
         [ECR_PUSH_IDENTITY]),
    Case("ECR push policy: another repository", BOB, "ecr:PutImage", repo("other"), Reason.NO_IDENTITY_ALLOW,
         [ECR_PUSH_IDENTITY]),
    Case("ECR GetAuthorizationToken names resource '*'", BOB, "ecr:GetAuthorizationToken", "*",
         Reason.NO_IDENTITY_ALLOW, [],
         message=f"User: arn:aws:iam::{ME}:user/bob is not authorized to perform: ecr:GetAuthorizationToken on "
         "resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action"),
    # --- Root ---
    Case("root has full access in its account", ROOT, "ecr:DeleteRepository", repo("app"), Reason.ALLOWED),
    Case("root is still denied explicitly", ROOT, "ecr:DeleteRepository", repo("app"), Reason.EXPLICIT_DENY_RESOURCE,
         [], [ECR_DENY_ALL]),
    Case("other account's root needs the repository policy", OUTSIDE_ROOT, "ecr:PutImage", repo("app"),
         Reason.NO_RESOURCE_ALLOW),
    Case("other account's root with the repository policy", OUTSIDE_ROOT, "ecr:PutImage", repo("app"),
         Reason.ALLOWED, [], [ECR_CROSS_ACCOUNT_PUSH]),
    # --- Cross-account ---
    Case("cross-account: both sides allow", OUTSIDER, "ecr:PutImage", repo("app"), Reason.ALLOWED,
         [identity(allow("ecr:*"))], [ECR_CROSS_ACCOUNT_PUSH]),
    Case("cross-account: no identity policy", OUTSIDER, "ecr:PutImage", repo("app"), Reason.NO_IDENTITY_ALLOW, [],
         [ECR_CROSS_ACCOUNT_PUSH]),
    Case("cross-account: no repository policy", OUTSIDER, "ecr:PutImage", repo("app"), Reason.NO_RESOURCE_ALLOW,
         [identity(allow("ecr:*"))],
         message=f"User: arn:aws:iam::{OTHER}:user/bob is not authorized to perform: ecr:PutImage on resource: "
         f"{repo('app')} because no resource-based policy allows the ecr:PutImage action"),
    Case("cross-account: repository policy names a different account", OUTSIDER, "ecr:PutImage", repo("app"),
         Reason.NO_RESOURCE_ALLOW, [identity(allow("ecr:*"))], [resource(grant({"AWS": "999999999999"}, PUSH))]),
    Case("cross-account: naming the user directly still needs its identity policy", OUTSIDER, "ecr:PutImage",
         repo("app"), Reason.NO_IDENTITY_ALLOW, [], [resource(grant({"AWS": f"arn:aws:iam::{OTHER}:user/bob"}, PUSH))]),
    Case("cross-account: '*' still needs the identity policy", OUTSIDER, "ecr:BatchGetImage", repo("app"),
         Reason.NO_IDENTITY_ALLOW, [], [ECR_PUBLIC_PULL]),
    Case("cross-account: boundary limits the trusted side", OUTSIDE_SESSION, "ecr:PutImage", repo("app"),
         Reason.NO_BOUNDARY_ALLOW, [ADMIN], [ECR_CROSS_ACCOUNT_PUSH], boundary=ONLY_CALLER_IDENTITY),
    Case("cross-account: session policy limits the trusted side", OUTSIDE_SESSION, "ecr:PutImage", repo("app"),
         Reason.NO_SESSION_ALLOW, [ADMIN], [ECR_CROSS_ACCOUNT_PUSH], session=[identity(allow(PULL))]),
    Case("cross-account: explicit deny in the trusting account", OUTSIDER, "ecr:PutImage", repo("app"),
         Reason.EXPLICIT_DENY_RESOURCE, [ADMIN], [ECR_CROSS_ACCOUNT_PUSH, ECR_DENY_ALL]),
    Case("cross-account: identity Resource must cover the other account", OUTSIDER, "ecr:PutImage", repo("app"),
         Reason.NO_IDENTITY_ALLOW, [identity(allow("ecr:*", f"arn:aws:ecr:*:{OTHER}:repository/*"))],
         [ECR_CROSS_ACCOUNT_PUSH]),
    # --- Anonymous callers and services ---
    Case("anonymous pull from a public repository", Principal.anonymous(), "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [], [ECR_PUBLIC_PULL]),
    Case("anonymous without a public policy", Principal.anonymous(), "ecr:BatchGetImage", repo("app"),
         Reason.NO_RESOURCE_ALLOW, [], [ECR_ALLOW_USERS],
         message=f"User: anonymous is not authorized to perform: ecr:BatchGetImage on resource: {repo('app')} "
         "because no resource-based policy allows the ecr:BatchGetImage action"),
    Case("anonymous is not an account member", Principal.anonymous(), "ecr:BatchGetImage", repo("app"),
         Reason.NO_RESOURCE_ALLOW, [], [resource(grant({"AWS": ME}, PULL))]),
    Case("CodeBuild with the documented conditions", CODEBUILD, "ecr:BatchGetImage", repo("app"), Reason.ALLOWED, [],
         [ECR_CODEBUILD], keys={"aws:SourceArn": f"arn:aws:codebuild:us-east-1:{ME}:project/build", "aws:SourceAccount": ME}),
    Case("CodeBuild on behalf of another account", CODEBUILD, "ecr:BatchGetImage", repo("app"),
         Reason.NO_RESOURCE_ALLOW, [], [ECR_CODEBUILD],
         keys={"aws:SourceArn": f"arn:aws:codebuild:us-east-1:{OTHER}:project/build", "aws:SourceAccount": OTHER}),
    Case("another service is not named", Principal.service("lambda.amazonaws.com"), "ecr:BatchGetImage",
         repo("app"), Reason.NO_RESOURCE_ALLOW, [], [ECR_CODEBUILD],
         keys={"aws:SourceArn": f"arn:aws:codebuild:us-east-1:{ME}:project/build", "aws:SourceAccount": ME}),
    # --- NotPrincipal with Deny ("AWS JSON policy elements: NotPrincipal") ---
    Case("NotPrincipal spares the named user and account", OUTSIDER, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k",
         Reason.ALLOWED, [ADMIN], [resource(
             {"Effect": "Deny", "NotPrincipal": {"AWS": [f"arn:aws:iam::{OTHER}:user/bob", f"arn:aws:iam::{OTHER}:root"]},
              "Action": "s3:*", "Resource": ["arn:aws:s3:::BUCKETNAME", "arn:aws:s3:::BUCKETNAME/*"]},
             grant({"AWS": f"arn:aws:iam::{OTHER}:user/bob"}, "s3:GetObject"))], keys={}),
    Case("NotPrincipal denies the others", Principal.user(OTHER, "alice"), "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k",
         Reason.EXPLICIT_DENY_RESOURCE, [ADMIN], [resource(
             {"Effect": "Deny", "NotPrincipal": {"AWS": [f"arn:aws:iam::{OTHER}:user/bob", f"arn:aws:iam::{OTHER}:root"]},
              "Action": "s3:*", "Resource": "arn:aws:s3:::BUCKETNAME/*"},
             grant({"AWS": OTHER}, "s3:GetObject"))]),
    Case("NotPrincipal naming only the user still denies them through their account", OUTSIDER, "s3:GetObject",
         "arn:aws:s3:::BUCKETNAME/k", Reason.EXPLICIT_DENY_RESOURCE, [ADMIN], [resource(
             {"Effect": "Deny", "NotPrincipal": {"AWS": f"arn:aws:iam::{OTHER}:user/bob"}, "Action": "s3:*",
              "Resource": "arn:aws:s3:::BUCKETNAME/*"},
             grant({"AWS": f"arn:aws:iam::{OTHER}:user/bob"}, "s3:GetObject"))]),
    Case("NotPrincipal spares a session named with its role and account", OUTSIDE_SESSION, "s3:GetObject",
         "arn:aws:s3:::Bucket_AccountAudit/k", Reason.ALLOWED, [ADMIN], [resource(
             {"Effect": "Deny", "NotPrincipal": {"AWS": [
                 f"arn:aws:sts::{OTHER}:assumed-role/cross-account-read-only-role/cross-account-audit-app",
                 f"arn:aws:iam::{OTHER}:role/cross-account-read-only-role", f"arn:aws:iam::{OTHER}:root"]},
              "Action": "s3:*", "Resource": "arn:aws:s3:::Bucket_AccountAudit/*"},
             grant({"AWS": OTHER}, "s3:GetObject"))]),
    Case("NotPrincipal without the role ARN denies the session", OUTSIDE_SESSION, "s3:GetObject",
         "arn:aws:s3:::Bucket_AccountAudit/k", Reason.EXPLICIT_DENY_RESOURCE, [ADMIN], [resource(
             {"Effect": "Deny", "NotPrincipal": {"AWS": [
                 f"arn:aws:sts::{OTHER}:assumed-role/cross-account-read-only-role/cross-account-audit-app",
                 f"arn:aws:iam::{OTHER}:root"]},
              "Action": "s3:*", "Resource": "arn:aws:s3:::Bucket_AccountAudit/*"},
             grant({"AWS": OTHER}, "s3:GetObject"))]),
    Case("NotPrincipal with Deny always denies a principal with a boundary", BOB, "ecr:BatchGetImage", repo("app"),
         Reason.EXPLICIT_DENY_RESOURCE, [ADMIN], [resource(
             {"Effect": "Deny", "NotPrincipal": {"AWS": [f"arn:aws:iam::{ME}:user/bob", f"arn:aws:iam::{ME}:root"]},
              "Action": "ecr:*"})], boundary=ADMIN),
    Case("NotPrincipal with Allow grants everyone else", BOB, "ecr:BatchGetImage", repo("app"), Reason.ALLOWED, [],
         [resource({"Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{ME}:user/alice"}, "Action": "ecr:*"})]),
    Case("NotPrincipal '*' excludes everyone", Principal.anonymous(), "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [], [ECR_PUBLIC_PULL, resource({"Effect": "Deny", "NotPrincipal": "*", "Action": "ecr:*"})]),
    # --- Role trust policies must allow even within one account ---
    Case("trust: identity allow is not enough", BOB, "sts:AssumeRole", f"arn:aws:iam::{ME}:role/r",
         Reason.NO_RESOURCE_ALLOW, [ADMIN], [trust(grant({"Service": "ec2.amazonaws.com"}, "sts:AssumeRole"))],
         require_resource_allow=True),
    Case("trust: the account is trusted and the user may assume", BOB, "sts:AssumeRole", f"arn:aws:iam::{ME}:role/r",
         Reason.ALLOWED, [identity(allow("sts:AssumeRole"))], [trust(grant({"AWS": ME}, "sts:AssumeRole"))],
         require_resource_allow=True),
    Case("trust: the account is trusted, the user has no permission", BOB, "sts:AssumeRole",
         f"arn:aws:iam::{ME}:role/r", Reason.NO_IDENTITY_ALLOW, [], [trust(grant({"AWS": ME}, "sts:AssumeRole"))],
         require_resource_allow=True),
    Case("trust: the user is trusted by name", BOB, "sts:AssumeRole", f"arn:aws:iam::{ME}:role/r", Reason.ALLOWED,
         [], [trust(grant({"AWS": f"arn:aws:iam::{ME}:user/bob"}, "sts:AssumeRole"))], require_resource_allow=True),
    Case("trust: web identity provider", Principal(Principal.anonymous().type, "anonymous",
         identity_provider="accounts.google.com"), "sts:AssumeRoleWithWebIdentity", f"arn:aws:iam::{ME}:role/r",
         Reason.ALLOWED, [], [trust(grant({"Federated": "accounts.google.com"}, "sts:AssumeRoleWithWebIdentity"))],
         require_resource_allow=True),
    # --- Policy variables (the "home directory" examples) ---
    Case("variables: own home", BOB, "s3:GetObject", "arn:aws:s3:::mybucket/bob/notes.txt", Reason.ALLOWED,
         [identity(allow(["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::mybucket/${aws:username}/*"]))]),
    Case("variables: someone else's home", BOB, "s3:GetObject", "arn:aws:s3:::mybucket/alice/notes.txt",
         Reason.NO_IDENTITY_ALLOW, [identity(allow(["s3:GetObject"], ["arn:aws:s3:::mybucket/${aws:username}/*"]))]),
    Case("variables: a role session has no user name", SESSION, "s3:GetObject", "arn:aws:s3:::mybucket//notes.txt",
         Reason.NO_IDENTITY_ALLOW, [identity(allow(["s3:GetObject"], ["arn:aws:s3:::mybucket/${aws:username}/*"]))]),
    Case("variables: literal in a 2008 policy", BOB, "s3:GetObject", "arn:aws:s3:::mybucket/bob/notes.txt",
         Reason.NO_IDENTITY_ALLOW, [identity(allow(["s3:GetObject"], ["arn:aws:s3:::mybucket/${aws:username}/*"]), version="2008-10-17")]),
    Case("variables: in a repository policy condition", Principal.user(ME, "app"), "ecr:BatchGetImage", repo("app"),
         Reason.ALLOWED, [], [resource(grant({"AWS": ME}, PULL), grant("*", PULL, Condition={"StringEquals": {"aws:username": "${aws:ResourceTag/owner}"}}))],
         keys={"aws:ResourceTag/owner": "app"}),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_documented_example(case: Case) -> None:
    decision = case.decide()
    assert decision.reason is case.expected
    assert decision.allowed is (case.expected is Reason.ALLOWED)
    if case.message is not None:
        assert decision.message(case.principal.arn, case.action, case.resource) == case.message
    if case.expected.explicit:
        assert decision.statements
        assert all(matched.statement.effect == "Deny" for matched in decision.statements)
    if decision.allowed and case.principal.type != "root":
        assert decision.statements
        assert all(matched.statement.effect == "Allow" for matched in decision.statements)
