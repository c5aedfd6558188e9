"""``dockyard agent``: the node side of Dockyard's ECS support (docs/ecs-agent-protocol.md).

The agent registers the node as a container instance, long-polls the server for tasks, runs them on the
local Docker Engine (``docker``), serves the instance role on an IMDSv2-compatible endpoint (``imds``) and
each task role on a container credentials endpoint (``creds``), ships ``awslogs`` output to the server's
CloudWatch Logs API (``logship``) and reports every state change back (``tasks``, ``reconcile``, ``loop``).

Networking: task containers run with Docker's **host** network mode. Both credential endpoints listen on
127.0.0.1 only, and a container on the host network reaches them at 127.0.0.1, the one kind of plain-HTTP
address botocore's container provider accepts for ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` besides
169.254.170.2/23 (which would need a link-local alias on the node). A bridge network would reach the
node through the bridge gateway (e.g. 172.17.0.1), which the SDKs refuse over HTTP.
"""
