"""The signing secret: from DELTASTREAM_JWT_SECRET, else a generated data-directory file
with mode 0600, reused; an open file or a short secret is refused."""

from __future__ import annotations

import os
import stat

import pytest

from deltastream.accounts.signing_key import SigningKeyError, signing_secret


def test_the_environment_wins_and_must_be_long_enough(tmp_path):
    secret = "s" * 40
    assert signing_secret(tmp_path, {"DELTASTREAM_JWT_SECRET": secret}) == secret.encode()
    assert not (tmp_path / "jwt_secret").exists()
    with pytest.raises(SigningKeyError, match="at least 32"):
        signing_secret(tmp_path, {"DELTASTREAM_JWT_SECRET": "short"})


def test_a_generated_file_is_owner_only_and_reused(tmp_path):
    old_umask = os.umask(0o022)                 # a permissive umask must not widen the file
    try:
        first = signing_secret(tmp_path / "data", {})
    finally:
        os.umask(old_umask)
    path = tmp_path / "data" / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 128 and bytes.fromhex(first.decode())
    assert signing_secret(tmp_path / "data", {}) == first
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["jwt_secret"]
    assert signing_secret(tmp_path / "other", {}) != first


def test_a_file_readable_by_others_is_refused(tmp_path):
    signing_secret(tmp_path, {})
    (tmp_path / "jwt_secret").chmod(0o644)
    with pytest.raises(SigningKeyError, match="0644"):
        signing_secret(tmp_path, {})
