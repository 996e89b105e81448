"""Get the input file onto local disk and, optionally, the results into S3.

Sources: a local path (a PVC mounted in the pod), `http(s)://` (standard library) and `s3://`
(boto3, which must be in the image: credentials come from the pod's usual chain, e.g. IRSA or
Pod Identity). Without boto3 an `s3://` location is a configuration error reported before the
engine is waited for; stage the file on the PVC or use a presigned https URL instead. Downloads
land under a temporary name and are renamed when complete, so a half download is never used.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path
from typing import Any

DOWNLOAD_TIMEOUT_S = 60.0


class TransportError(Exception):
    """The input could not be fetched or the results not uploaded (may work on retry)."""


class LocationError(TransportError):
    """A location the feeder can never use (no bucket, no boto3): retrying will not help."""


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise LocationError(f"{uri!r} names no bucket")
    return bucket, key


def _s3_client() -> Any:
    try:
        import boto3  # the feeder runs without it unless s3:// is used
    except ImportError:
        raise LocationError(
            "s3:// needs boto3, which this image lacks: stage the file on the PVC or pass a "
            "presigned https:// URL"
        ) from None
    return boto3.client("s3")


def check_location(location: str | None) -> None:
    """Fail before any GPU time on a location the feeder could not use later."""
    if location and location.startswith("s3://"):
        split_s3(location)
        _s3_client()


def fetch_input(source: str, work_dir: Path) -> Path:
    """A local path to the input: `source` itself when local, else a download in `work_dir`.

    A download already completed in `work_dir` (by the validation init container of the same
    pod) is reused.
    """
    if not source.startswith(("http://", "https://", "s3://")):
        path = Path(source)
        if not path.is_file():
            raise TransportError(f"input {source} is not a file")
        return path
    target = work_dir / "input.jsonl"
    if target.is_file():
        return target
    work_dir.mkdir(parents=True, exist_ok=True)
    partial = work_dir / "input.jsonl.partial"
    try:
        if source.startswith("s3://"):
            bucket, key = split_s3(source)
            _s3_client().download_file(bucket, key, str(partial))
        else:
            with urllib.request.urlopen(source, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                    open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
    except TransportError:
        raise
    except Exception as exc:  # urllib and botocore raise many types; the message names it
        raise TransportError(f"downloading {source}: {type(exc).__name__}: {exc}") from None
    partial.replace(target)
    return target


def upload_results(files: list[Path], destination: str) -> list[str]:
    """Copy `files` under the `s3://` prefix `destination`; returns the object URIs."""
    bucket, prefix = split_s3(destination)
    client = _s3_client()
    uris = []
    for path in files:
        if not path.is_file():
            continue
        key = f"{prefix.rstrip('/')}/{path.name}" if prefix else path.name
        try:
            client.upload_file(str(path), bucket, key)
        except Exception as exc:  # botocore's error types are not importable without boto3
            raise TransportError(f"uploading {path} to s3://{bucket}/{key}: {exc}") from None
        uris.append(f"s3://{bucket}/{key}")
    return uris
