"""An S3 upload whose part was replaced by a second writer of the same upload cannot complete: the client
gets ``BLOB_UPLOAD_INVALID`` (not a server error) and nothing is left, neither a blob nor the upload."""

from __future__ import annotations

import os

import pytest

from s3_target import S3Target

from .conftest import Registry, digest_of, error_code

MIB = 1 << 20


@pytest.fixture
def storage() -> str:
    return "s3"


async def test_a_part_replaced_behind_the_upload_makes_it_invalid(
    registry: Registry, s3_target: S3Target
) -> None:
    data = os.urandom(11 * MIB)  # one 10 MiB part, the rest in the checkpoint
    location = await registry.start_upload("s3/overwritten")
    response = await registry.http.patch(
        location, content=data, headers={"Content-Range": f"0-{len(data) - 1}"}
    )
    assert response.status_code == 202, response.text
    client, bucket = s3_target.client(), s3_target.bucket
    prefix = registry.settings.s3_prefix + "uploads/"
    [upload] = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)["Uploads"]
    client.upload_part(  # another writer of this upload id, with other bytes
        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"], PartNumber=1, Body=os.urandom(10 * MIB)
    )
    digest = digest_of(data)
    finished = await registry.http.put(location, params={"digest": digest})
    assert finished.status_code == 400, finished.text
    assert error_code(finished) == "BLOB_UPLOAD_INVALID"
    await registry.assert_no_blob("s3/overwritten", digest)
    await registry.assert_no_uploads_left()
