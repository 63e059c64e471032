"""Accounts: users, passwords, access and refresh tokens, API keys (no Flask here).

- Passwords are hashed with argon2id (:mod:`.passwords`); a hash made with other parameters
  than the configured ones is replaced at the next successful login.
- Access tokens are JWTs signed with HS256 (:mod:`.tokens`), short-lived (``exp`` - ``iat`` =
  the access TTL in seconds, 900 by default); the signing secret comes from the environment or
  a generated owner-only file (:mod:`.signing_key`), never from a default in the code.
- Refresh tokens are opaque random strings stored as their SHA-256; each belongs to a family
  (one login). Using one rotates it (it is spent, a new one is issued in the same family);
  presenting a spent one again revokes the whole family.
- API keys (:mod:`.api_keys`) are a public prefix and a secret, stored as the SHA-256 of the
  whole key, named, listed without the secret, revocable.

Times are timezone-aware UTC datetimes in the service and integer microseconds since the Unix
epoch in the store; JWT ``iat``/``exp`` are integer seconds since the epoch.
"""
