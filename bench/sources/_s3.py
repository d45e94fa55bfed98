"""The little S3 this package needs: split an s3:// URI, get one object's bytes with boto3."""

from __future__ import annotations

from typing import Any

from bench.errors import ScenarioError
from bench.s3.client import Endpoint, sync_client, translate_error


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key); both must be there."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ScenarioError(
            f"{uri}: not an s3://bucket/key URI; give the URI of an S3 Inventory manifest.json"
        )
    return bucket, key


class ObjectReader:
    """Reads whole objects from one endpoint; one boto3 client for all of them."""

    def __init__(self, endpoint: Endpoint | None) -> None:
        self.endpoint = endpoint or Endpoint("aws", None)
        self._client: Any = None

    def get(self, bucket: str, key: str) -> bytes:
        if self._client is None:
            self._client = sync_client(self.endpoint)
        try:
            response = self._client.get_object(Bucket=bucket, Key=key)
            return response["Body"].read()
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                # A missing file given by the user, not a dataset that changed under a run.
                raise ScenarioError(
                    f"s3://{bucket}/{key}: no such object on {self.endpoint.describe()}; "
                    f"check the URI (a report's manifest is at <destination-prefix>/"
                    "<source-bucket>/<config-ID>/<YYYY-MM-DDTHH-MMZ>/manifest.json)"
                ) from exc
            raise translate_error(exc, endpoint=self.endpoint, bucket=bucket, key=key) from exc
