"""``docker-credential-dockyard``: a Docker credential helper that logs in to Dockyard with AWS credentials.

It speaks the credential-helper protocol of ``docker/docker-credential-helpers`` (one action word as the
only argument: ``get``, ``store``, ``erase``, ``list``, ``version``), and behaves like Amazon's
``docker-credential-ecr-login``: for a registry host ``<account id>.dkr.<domain>[:port]`` it calls ECR's
``GetAuthorizationToken`` (``registryIds=[<account id>]``) on the Dockyard endpoint with the credentials of
the usual AWS chain (environment, ``AWS_PROFILE``, shared config and credentials files, SSO, web identity,
container and instance metadata), and answers ``Username`` ``AWS`` with the token's password as ``Secret``.

Which endpoint serves a registry host, first match wins:

1. the host's entry in the mapping file (``DOCKYARD_CREDENTIAL_HELPER_CONFIG``, default
   ``~/.dockyard/credential-helper.json``)::

       {"registries": {
           "111122223333.dkr.registry.example.com": {"endpoint": "https://registry.example.com",
                                                     "region": "eu-west-1", "profile": "dockyard"},
           "*.dkr.dockyard.localhost:5000": {"endpoint": "http://127.0.0.1:5000"},
           "registry.internal:5000": {"endpoint": "http://registry.internal:5000",
                                      "account": "111122223333"}}}

   Keys are host names with an optional port; ``*.dkr.<domain>[:port]`` stands for every account's host.
   A host that is not ``<account id>.dkr.<domain>`` gets credentials only through an entry of its own.
2. ``DOCKYARD_ENDPOINT``;
3. the ECR endpoint configured for the AWS SDKs (``AWS_ENDPOINT_URL_ECR``, ``AWS_ENDPOINT_URL``, or
   ``endpoint_url`` in the profile).

The region is the entry's, else ``AWS_REGION``, ``AWS_DEFAULT_REGION`` or the profile's, else us-east-1.
Under 2 and 3 a token is handed out only when the server's ``proxyEndpoint`` names the very host Docker
asked about, so a helper configured as Docker's ``credsStore`` never gives a Dockyard token to another
registry. Tokens are cached in ``$XDG_CACHE_HOME/dockyard/credential-helper/`` (``~/.cache/…``; directory
0700, one 0600 file per registry host, endpoint, region and credential identity) and reused until 15
minutes before they expire (half their lifetime for short-lived tokens); a cached token that has not
expired yet also stands in when the endpoint cannot be reached. ``store`` and ``erase`` succeed without
storing anything (``erase``, from ``docker logout``, drops the host's cached tokens).

Nothing but ``get``'s answer ever carries a secret: the log (``--debug`` or
``DOCKYARD_CREDENTIAL_HELPER_DEBUG=1``, on stderr) names hosts, endpoints and hashes only.
"""

from __future__ import annotations

from dockyard.credential_helper.backend import (
    Backend,
    BotoBackend,
    BotoConnection,
    Connection,
    TokenFetchError,
    credential_identity,
    short_identity,
)
from dockyard.credential_helper.cache import (
    Authorization,
    CachedToken,
    TokenCache,
    cache_key,
    default_cache_dir,
)
from dockyard.credential_helper.helper import CredentialHelper, _go_json, handle, main, version_line
from dockyard.credential_helper.protocol import (
    CACHE_VERSION,
    DEFAULT_REGION,
    ENV_CACHE_DIR,
    ENV_CONFIG,
    ENV_DEBUG,
    ENV_DISABLE_CACHE,
    ENV_ENDPOINT,
    MISSING_SERVER_URL,
    MISSING_USERNAME,
    NOT_FOUND,
    PACKAGE,
    PROGRAM,
    REFRESH_MARGIN,
    USAGE,
    CredentialsNotFound,
    HelperError,
)
from dockyard.credential_helper.routes import (
    MappingEntry,
    RegistryHost,
    Route,
    Routes,
    default_config_path,
    load_mapping,
    parse_server_url,
    redact_url,
)

__all__ = [
    "CACHE_VERSION",
    "DEFAULT_REGION",
    "ENV_CACHE_DIR",
    "ENV_CONFIG",
    "ENV_DEBUG",
    "ENV_DISABLE_CACHE",
    "ENV_ENDPOINT",
    "MISSING_SERVER_URL",
    "MISSING_USERNAME",
    "NOT_FOUND",
    "PACKAGE",
    "PROGRAM",
    "REFRESH_MARGIN",
    "USAGE",
    "Authorization",
    "Backend",
    "BotoBackend",
    "BotoConnection",
    "CachedToken",
    "Connection",
    "CredentialHelper",
    "CredentialsNotFound",
    "HelperError",
    "MappingEntry",
    "RegistryHost",
    "Route",
    "Routes",
    "TokenCache",
    "TokenFetchError",
    "_go_json",
    "cache_key",
    "credential_identity",
    "default_cache_dir",
    "default_config_path",
    "handle",
    "load_mapping",
    "main",
    "parse_server_url",
    "redact_url",
    "short_identity",
    "version_line",
]
