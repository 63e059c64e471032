"""argon2id hashing: the hash is argon2id with the configured parameters, verifies only the
right password, and asks for a rehash when the parameters change."""

from __future__ import annotations

from deltastream.accounts.passwords import PasswordHashing

CHEAP = {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}


def test_hash_is_argon2id_with_the_parameters_and_salted():
    hashing = PasswordHashing(**CHEAP)
    encoded = hashing.hash("correct horse battery")
    assert encoded.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert hashing.hash("correct horse battery") != encoded        # a new salt each time
    assert "correct horse battery" not in encoded


def test_verify_accepts_only_the_right_password():
    hashing = PasswordHashing(**CHEAP)
    encoded = hashing.hash("correct horse battery")
    assert hashing.verify(encoded, "correct horse battery").ok
    assert not hashing.verify(encoded, "correct horse batterz").ok
    assert not hashing.verify("not a hash", "correct horse battery").ok


def test_a_hash_with_other_parameters_verifies_and_asks_for_a_rehash():
    old = PasswordHashing(**CHEAP).hash("correct horse battery")
    stronger = PasswordHashing(memory_kib=2048, time_cost=2, parallelism=1)
    verified = stronger.verify(old, "correct horse battery")
    assert verified.ok and verified.rehash
    same = stronger.verify(stronger.hash("correct horse battery"), "correct horse battery")
    assert same.ok and not same.rehash


def test_default_parameters_are_rfc_9106s_low_memory_option():
    encoded = PasswordHashing().hash("correct horse battery")
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
