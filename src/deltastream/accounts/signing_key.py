"""The secret that signs access tokens (HMAC-SHA256): from the environment variable
``DELTASTREAM_JWT_SECRET`` (at least 32 bytes of text, shared by every web worker and host),
or else the file ``jwt_secret`` in the data directory, generated on first use (64 random
bytes, hex) with mode 0600 and reused afterwards. There is no default secret in the code.

The file is written under a temporary name and linked into place, so concurrent start-ups
agree on one secret and none reads a half-written file. A file readable or writable by group
or others is refused: anyone who reads it can forge tokens.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

SECRET_ENV = "DELTASTREAM_JWT_SECRET"
SECRET_FILE = "jwt_secret"
MIN_SECRET_BYTES = 32
GENERATED_BYTES = 64


class SigningKeyError(RuntimeError):
    """The secret cannot be used: too short, or its file unreadable or open to others."""


def signing_secret(data_dir: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The token-signing secret: ``DELTASTREAM_JWT_SECRET`` when set (non-empty), else the
    data directory's ``jwt_secret`` file (created when missing)."""
    env = os.environ if environ is None else environ
    value = env.get(SECRET_ENV, "")
    if value:
        secret = value.encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise SigningKeyError(f"{SECRET_ENV} is {len(secret)} bytes; at least "
                                  f"{MIN_SECRET_BYTES} are required")
        return secret
    return _file_secret(Path(data_dir) / SECRET_FILE)


def _file_secret(path: Path) -> bytes:
    if not path.exists():
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SigningKeyError(f"{path} has mode {mode:04o}: group and others must have no "
                              f"access (chmod 600 {path})")
    secret = path.read_bytes().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise SigningKeyError(f"{path} holds {len(secret)} bytes; at least "
                              f"{MIN_SECRET_BYTES} are required")
    return secret


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 whatever the umask.
    handle, temporary = tempfile.mkstemp(prefix=".jwt_secret.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(secrets.token_hex(GENERATED_BYTES).encode())
            out.flush()
            os.fsync(out.fileno())
        # FileExistsError: another process linked its secret first; that one is used.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
