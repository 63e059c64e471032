"""Password hashing with argon2id (argon2-cffi).

Parameters: ``memory_kib`` KiB of memory, ``time_cost`` passes, ``parallelism`` lanes; the
defaults are RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes), about 0.1-0.2 s
per hash on one core. A stored hash records its own parameters, so changing them leaves old
hashes verifiable; :meth:`PasswordHashing.verify` says when one should be replaced.

Each hash is CPU-bound for that long: a server whose requests share one event loop (gevent)
passes ``run``, which runs the work elsewhere (a thread pool) and waits without blocking the
loop; argon2 releases the GIL while it works.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

DEFAULT_MEMORY_KIB = 65_536
DEFAULT_TIME_COST = 3
DEFAULT_PARALLELISM = 4


@dataclass(frozen=True)
class Verified:
    """The outcome of a verification: ``ok`` when the password matches; ``rehash`` when the
    stored hash was made with other parameters than the current ones (replace it)."""

    ok: bool
    rehash: bool = False


class PasswordHashing:
    """argon2id hashing with fixed parameters."""

    def __init__(self, memory_kib: int = DEFAULT_MEMORY_KIB, time_cost: int = DEFAULT_TIME_COST,
                 parallelism: int = DEFAULT_PARALLELISM,
                 run: Callable[[Callable[[], Any]], Any] | None = None) -> None:
        self._run = run or _here
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                      parallelism=parallelism, type=Type.ID)
        # Verified against when the email is unknown, so that answer takes as long as a
        # wrong password (no account enumeration by timing).
        self._decoy = self._hasher.hash("decoy password, never a user's")

    def hash(self, password: str) -> str:
        """The encoded argon2id hash (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``)."""
        encoded: str = self._run(partial(self._hasher.hash, password))
        return encoded

    def verify(self, encoded: str, password: str) -> Verified:
        """Whether ``password`` matches ``encoded``; a malformed hash never matches."""
        try:
            self._run(partial(self._hasher.verify, encoded, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verified(False)
        return Verified(True, self._hasher.check_needs_rehash(encoded))

    def burn(self, password: str) -> None:
        """Spend one verification's time on nothing (an unknown account's login)."""
        self.verify(self._decoy, password)


def _here(work: Callable[[], Any]) -> Any:
    return work()
