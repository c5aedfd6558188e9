"""A refused request leaves its keep-alive connection usable: the body a client sent with it is read first."""

from __future__ import annotations

import http.client
import json

from .conftest import Registry


def test_a_refused_manifest_put_keeps_the_connection_usable(registry: Registry) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=30)
    body = json.dumps({"schemaVersion": 2, "padding": "x" * 20_000}).encode()
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    sockets = []
    for _ in range(3):
        connection.request("PUT", "/v2/app/manifests/unauthorised", body=body, headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 401
        assert answer["errors"][0]["code"] == "UNAUTHORIZED"
        sockets.append(connection.sock)
    assert sockets[0] is not None
    assert all(sock is sockets[0] for sock in sockets)  # one connection throughout, never reopened
    connection.close()


def test_a_refused_large_upload_closes_the_connection_instead_of_reading_it(registry: Registry) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=30)
    connection.putrequest("PATCH", "/v2/app/blobs/uploads/some-session")
    connection.putheader("Content-Length", str(64 * 1024 * 1024))
    connection.endheaders()
    response = connection.getresponse()
    response.read()
    assert response.status == 401
    assert response.getheader("Connection") == "close"
    connection.close()
