"""Object storage behind the landing zone and the lake: a local folder or an S3 bucket.

Both give the same operations; writes are atomic (local: temp file + rename; S3: a PUT is atomic).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egress_platform.lake_layout import STAGING_ZONE


@dataclass
class LocalStore:
    root: Path

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        base = self.root / prefix if prefix else self.root
        start = base if base.is_dir() else base.parent
        if not start.exists():
            return []
        root = str(self.root) + os.sep
        found = []
        # os.walk with scandir: a lake folder of tens of thousands of partition files is listed
        # in milliseconds (Path.rglob built a Path and stat-ed every entry twice).
        for folder, _dirs, names in os.walk(start):
            for name in names:
                if name.endswith(".tmp"):
                    continue
                path = os.path.join(folder, name)
                key = path[len(root) :].replace(os.sep, "/")
                if key.startswith(prefix):
                    found.append((key, os.stat(path).st_size))
        return sorted(found)

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def write(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the lake (and its reports) from others
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)
        if key.startswith(STAGING_ZONE + "/"):
            self._prune((self.root / key).parent)

    def _prune(self, folder: Path) -> None:
        """Remove ``folder`` and its parents while they are empty, up to (not including) the root.

        Lexical, not ``resolve()``d: keys are relative paths the lake builds, and resolving two
        paths on every move took a tenth of `make demo` (thousands of partition files)."""
        root = os.path.abspath(self.root)
        path = os.path.abspath(folder)
        while path.startswith(root + os.sep):
            try:
                os.rmdir(path)
            except OSError:  # not empty (or gone): stop
                return
            path = os.path.dirname(path)

    def move(self, source: str, target: str) -> None:
        """Replace ``target`` with ``source`` in one rename."""
        path = self.root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.root / source, path)
        self._prune((self.root / source).parent)

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def uri(self, key: str) -> str:
        return str(self.root / key)


@dataclass
class S3Store:
    bucket: str
    prefix: str = ""
    client: Any = None

    def __post_init__(self) -> None:
        if self.client is None:
            import boto3

            # boto3 honours AWS_ENDPOINT_URL, which is how tests point it at a moto server.
            self.client = boto3.client("s3")

    def _full(self, key: str) -> str:
        return f"{self.prefix.rstrip('/')}/{key}" if self.prefix else key

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self._full(""))
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._full(prefix)):
            for obj in page.get("Contents", []):
                found.append((obj["Key"][strip:], int(obj["Size"])))
        return sorted(found)

    def read(self, key: str) -> bytes:
        """The object's bytes; ``FileNotFoundError`` when there is none, as a folder says."""
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(self.uri(key)) from None
        data: bytes = reply["Body"].read()
        return data

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)

    def create(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if no object has it (If-None-Match: *); False when one does."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._full(key), Body=data, IfNoneMatch="*"
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def move(self, source: str, target: str) -> None:
        """A server-side copy (the target changes in one step, as any PUT), then the delete."""
        self.client.copy_object(
            Bucket=self.bucket,
            Key=self._full(target),
            CopySource={"Bucket": self.bucket, "Key": self._full(source)},
        )
        self.delete(source)

    def exists(self, key: str) -> bool:
        found = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._full(key), MaxKeys=1)
        return any(o["Key"] == self._full(key) for o in found.get("Contents", []))

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"
