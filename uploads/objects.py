"""The object store of raw documents: content-addressed by SHA-256, append-only, never overwritten.

One library for both places (obstore, the Rust `object_store` crate's Python binding): local disk
under `<data_dir>/objects` by default, an S3-compatible bucket when `FRAGSTATS_UPLOAD_STORE_URL` is
`s3://bucket/prefix` (options from `FRAGSTATS_UPLOAD_STORE_OPTIONS` and the `AWS_*` environment).

Keys are `sha256/<first two hex>/<hex>`; the parts of a chunked upload live apart, under a folder of
that upload alone (`parts/<upload id>/<hex>`, the `under` argument), so that they can be deleted
when the upload ends without touching a document or another upload's part of the same bytes. The
shared `sha256/` objects are never deleted. A put is a conditional create (`If-None-Match: *` on S3, an
exclusive create on disk): an object that exists already holds the same bytes (its name is their
hash), so "already exists" is success and nothing is ever replaced. On local disk the new file and its
folders are fsynced (`fragstats.durable`), so an acknowledged upload survives a power cut.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import obstore
from obstore.exceptions import AlreadyExistsError
from obstore.store import LocalStore, from_url

from fragstats.durable import fsync_dir
from fragstats.errors import StartupError

# obstore's HTTP client options, as opposed to the store's own configuration keys.
_CLIENT_OPTIONS = frozenset({"allow_http", "allow_invalid_certificates", "timeout", "connect_timeout",
                             "user_agent", "proxy_url"})


def digest_of(data: bytes) -> str:
    """Lowercase hex SHA-256 of `data`: the object's name."""
    return hashlib.sha256(data).hexdigest()


def key_of(digest: str, under: str | None = None) -> str:
    """The object's key: `sha256/<2 hex>/<hex>` in the shared store, `<under>/<hex>` in a folder."""
    return f"sha256/{digest[:2]}/{digest}" if under is None else f"{under}/{digest}"


class ObjectStore:
    """Put and get documents by their SHA-256. Async methods run obstore's own I/O (no thread of ours)."""

    def __init__(self, store, local_root: Path | None = None, description: str = ""):
        self.store = store
        self.local_root = local_root  # set for local disk: files to fsync after a put
        self.description = description

    @classmethod
    def open(cls, url: str | None, options: dict[str, str], data_dir: Path) -> "ObjectStore":
        """The store named by `url` (None: `<data_dir>/objects`). Raises StartupError when the URL
        or its options are not usable."""
        try:
            if not url:
                root = data_dir / "objects"
                root.mkdir(parents=True, exist_ok=True)
                return cls(LocalStore(root), root, f"local disk {root}")
            if url.startswith("file://"):
                root = Path(url.removeprefix("file://"))
                root.mkdir(parents=True, exist_ok=True)
                return cls(LocalStore(root), root, f"local disk {root}")
            client = {k: v for k, v in options.items() if k in _CLIENT_OPTIONS}
            config = {k: v for k, v in options.items() if k not in _CLIENT_OPTIONS}
            return cls(from_url(url, config=config or None, client_options=client or None), None, url)
        except Exception as exc:
            raise StartupError(f"the upload object store {url or data_dir / 'objects'} cannot be opened: {exc}") from exc

    async def put(self, data: bytes, under: str | None = None) -> str:
        """Store `data` under its SHA-256 (once; a second put of the same bytes changes nothing), in
        the shared store or in the folder `under`; returns the hex digest. Raises OSError (e.g.
        ENOSPC) or obstore's errors when the store fails."""
        digest = digest_of(data)
        key = key_of(digest, under)
        try:
            await obstore.put_async(self.store, key, data, mode="create")
        except AlreadyExistsError:
            return digest
        if self.local_root is not None:
            self._fsync_local(key)
        return digest

    def put_sync(self, data: bytes) -> str:
        """`put` for worker threads."""
        digest = digest_of(data)
        key = key_of(digest)
        try:
            obstore.put(self.store, key, data, mode="create")
        except AlreadyExistsError:
            return digest
        if self.local_root is not None:
            self._fsync_local(key)
        return digest

    def _fsync_local(self, key: str) -> None:
        path = self.local_root / key
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(path.parent)
        fsync_dir(path.parent.parent)

    async def get(self, digest: str) -> bytes:
        """The document of `digest`. Raises FileNotFoundError when there is none."""
        result = await obstore.get_async(self.store, key_of(digest))
        return bytes(await result.bytes_async())

    def get_sync(self, digest: str, under: str | None = None) -> bytes:
        """`get` for worker threads (`under`: the folder the object was put in)."""
        return bytes(obstore.get(self.store, key_of(digest, under)).bytes())

    async def delete(self, digest: str, under: str) -> None:
        """Delete one object of the folder `under` (gone already: no error). The shared store's
        objects have no delete: they may be any number of documents."""
        try:
            await obstore.delete_async(self.store, key_of(digest, under))
        except FileNotFoundError:
            pass

    async def delete_under(self, under: str) -> int:
        """Delete every object in the folder `under` (a chunked upload's parts); returns how many
        there were. Objects already gone (another process deleting the same folder) are no error.
        On local disk the emptied folder goes too."""
        keys: list[str] = []
        async for batch in obstore.list(self.store, prefix=f"{under}/"):
            keys += [meta["path"] for meta in batch]
        try:
            if keys:
                await obstore.delete_async(self.store, keys)
        except FileNotFoundError:  # a local store refuses a batch with a missing key: one by one
            for key in keys:
                try:
                    await obstore.delete_async(self.store, key)
                except FileNotFoundError:
                    pass
        if self.local_root is not None:
            try:
                (self.local_root / under).rmdir()
            except OSError:  # not there, or not empty: a part put while we deleted; the next sweep
                pass
        return len(keys)

    async def exists(self, digest: str) -> bool:
        try:
            await obstore.head_async(self.store, key_of(digest))
        except FileNotFoundError:
            return False
        return True
