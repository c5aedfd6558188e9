"""The ECR control-plane API (AWS JSON 1.1, ``AmazonEC2ContainerRegistry_V20150921.<Op>``) over the
registry's services: handlers, the error table, layer downloads and ``/v2/`` rate limits."""

from __future__ import annotations

from dockyard.http.ecr.api import EcrApi, build_ecr_endpoint, fixed_account
from dockyard.http.ecr.auth import Authorizer, EcrCaller

__all__ = ["Authorizer", "EcrApi", "EcrCaller", "build_ecr_endpoint", "fixed_account"]
