"""Unit tests of the auth building blocks: passwords, the user store, tokens, the handshake."""

from __future__ import annotations

import stat
import sys
import time
import warnings

import jwt
import pytest
from passlib.hash import argon2

from flux_restful_server.auth.config import check_auth_settings
from flux_restful_server.auth.passwords import PasswordError, hash_password, verify_password
from flux_restful_server.auth.store import UserExists, UserNotFound, UserStore, UserStoreError
from flux_restful_server.auth.tokens import (
    HandshakeError,
    InvalidToken,
    TokenExpired,
    decode_access_token,
    decode_handshake,
    issue_access_token,
    load_signing_key,
)
from flux_restful_server.settings import Settings, SettingsError

KEY = b"k" * 48


def _handshake(payload: dict[str, object], secret: str = "notsecrethoo") -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return "Bearer " + jwt.encode(payload, secret, algorithm="HS256")


def test_password_hash_is_argon2_and_verifies():
    stored = hash_password("s3cret")
    assert stored.startswith("$argon2id$")
    assert verify_password("s3cret", stored) == (True, None)
    assert verify_password("wrong", stored) == (False, None)


def test_outdated_hash_is_upgraded_on_verify():
    old = argon2.using(time_cost=1, memory_cost=1024, parallelism=1).hash("pw")
    ok, new_hash = verify_password("pw", old)
    assert ok and new_hash and new_hash != old
    assert verify_password("pw", new_hash) == (True, None)


@pytest.mark.parametrize("stored", ["", "garbage", "$2b$12$notreallybcrypt", "$argon2id$v=19$x"])
def test_malformed_hash_never_matches(stored):
    assert verify_password("pw", stored) == (False, None)


def test_unacceptable_passwords_are_refused():
    with pytest.raises(PasswordError, match="empty"):
        hash_password("")
    with pytest.raises(PasswordError, match="at most"):
        hash_password("x" * 5000)
    assert verify_password("x" * 5000, hash_password("pw")) == (False, None)


def test_store_add_list_remove_and_versions(tmp_path):
    store = UserStore(tmp_path / "db.sqlite")
    alice = store.add("alice", "h1", superuser=True)
    assert alice.is_superuser and alice.is_active
    with pytest.raises(UserExists, match="User alice already exists."):
        store.add("alice", "h2")
    store.add("bob", "h3")
    assert [u.name for u in store.list_users()] == ["alice", "bob"]

    store.set_password("alice", "h4", revoke_tokens=False)
    assert store.get("alice").token_version == alice.token_version
    store.set_password("alice", "h5")
    changed = store.get("alice")
    assert changed.password_hash == "h5" and changed.token_version != alice.token_version

    store.set_active("bob", False)
    bob = store.get("bob")
    assert not bob.is_active
    store.set_active("bob", True)
    assert store.get("bob").token_version == bob.token_version
    store.set_superuser("bob", True)
    assert store.get("bob").is_superuser

    store.remove("bob")
    assert store.get("bob") is None
    with pytest.raises(UserNotFound, match="User bob does not exist."):
        store.remove("bob")
    for method, args in (("set_password", ("h",)), ("set_active", (True,))):
        with pytest.raises(UserNotFound):
            getattr(store, method)("nobody", *args)
    store.close()
    mode = stat.S_IMODE((tmp_path / "db.sqlite").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize("name", ["", "-rf", "a b", "x" * 65, "a:b", "é", "a/b"])
def test_store_refuses_bad_names(tmp_path, name):
    store = UserStore(tmp_path / "db.sqlite")
    with pytest.raises(UserStoreError, match="not a valid user name"):
        store.add(name, "h")


def test_store_readded_user_gets_a_new_version(tmp_path):
    store = UserStore(tmp_path / "db.sqlite")
    first = store.add("carol", "h").token_version
    store.remove("carol")
    assert store.add("carol", "h").token_version != first


def test_signing_key_generated_once_with_mode_0600(tmp_path):
    key, source = load_signing_key(None, tmp_path / "state")
    again, _ = load_signing_key(None, tmp_path / "state")
    assert key == again and len(key) >= 32
    assert stat.S_IMODE((tmp_path / "state" / "token-signing.key").stat().st_mode) == 0o600
    assert source.endswith("token-signing.key")
    assert load_signing_key("z" * 40, tmp_path) == (b"z" * 40, "FLUX_TOKEN_SIGNING_KEY")


def test_access_token_round_trip_and_claims():
    token = issue_access_token(
        KEY,
        user="alice",
        scopes=frozenset({"read", "admin"}),
        version="v1",
        backend="database",
        expires_minutes=5,
    )
    claims = decode_access_token(KEY, token)
    assert claims.sub == "alice" and claims.scopes == {"read", "admin"}
    raw = jwt.decode(token, KEY, algorithms=["HS256"], issuer="flux-restful")
    assert {"sub", "iat", "exp", "scope"} <= raw.keys()
    assert raw["exp"] - raw["iat"] == 300 and raw["scope"] == "read admin"


def test_access_token_refusals():
    good = {"user": "a", "scopes": frozenset({"read"}), "version": "v", "backend": "database"}
    expired = issue_access_token(KEY, expires_minutes=1, now=time.time() - 120, **good)
    with pytest.raises(TokenExpired):
        decode_access_token(KEY, expired)
    token = issue_access_token(KEY, expires_minutes=1, **good)
    with pytest.raises(InvalidToken):
        decode_access_token(b"w" * 48, token)
    head, body, sig = token.split(".")
    flipped = sig[:5] + ("A" if sig[5] != "A" else "B") + sig[6:]
    with pytest.raises(InvalidToken):
        decode_access_token(KEY, f"{head}.{body}.{flipped}")
    unsigned = jwt.encode(
        {"sub": "a", "iat": int(time.time()), "exp": int(time.time()) + 60, "iss": "flux-restful"},
        None,
        algorithm="none",
    )
    with pytest.raises(InvalidToken):
        decode_access_token(KEY, unsigned)
    with pytest.raises(InvalidToken):
        decode_access_token(KEY, "not.a.token")


def test_handshake_decodes_upstream_payload():
    creds = decode_handshake(
        "notsecrethoo", _handshake({"user": "fluxuser", "pass": "12345", "scope": "token"})
    )
    assert (creds.user, creds.password) == ("fluxuser", "12345")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Missing Authorization header"),
        ("", "Missing Authorization header"),
        ("Bearer garbage", "Could not decode credentials"),
        (_handshake({"user": "u", "pass": "p", "scope": "token"}, "other"), "Could not decode"),
        (_handshake({"pass": "p", "scope": "token"}), "Credentials are missing 'user'"),
        (_handshake({"user": "u", "scope": "token"}), "Credentials are missing 'pass'"),
        (_handshake({"user": "u", "pass": "p"}), "Credentials are missing 'scope'"),
        (_handshake({"user": "u", "pass": "p", "scope": "admin"}), "Invalid scope"),
    ],
)
def test_handshake_failures(header, message):
    with pytest.raises(HandshakeError, match=message):
        decode_handshake("notsecrethoo", header)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"auth_backend": "shared-secret"}, "needs FLUX_SECRET_KEY"),
        ({"auth_backend": "database", "token_signing_key": "short"}, "at least 32"),
        (
            {
                "auth_backend": "shared-secret",
                "secret_key": "s" * 40,
                "token_signing_key": "s" * 40,
            },
            "must differ",
        ),
        ({"auth_backend": "pam"}, "python-pam"),
    ],
)
def test_unusable_auth_settings_are_refused(tmp_path, monkeypatch, changes, message):
    monkeypatch.setitem(sys.modules, "pam", None)  # as if python-pam were not installed
    with pytest.raises(SettingsError, match=message):
        check_auth_settings(Settings(state_dir=tmp_path, **changes))


async def test_login_rehashes_outdated_hashes_without_revoking_tokens(tmp_path):
    from flux_restful_server.auth.service import AuthService

    store = UserStore(tmp_path / "flux-restful.db")
    old = argon2.using(time_cost=1, memory_cost=1024, parallelism=1).hash("pw")
    version = store.add("olduser", old).token_version
    store.close()
    service = AuthService(Settings(state_dir=tmp_path, auth_backend="database"))
    await service.open()
    try:
        token = (await service.login("olduser", "pw")).access_token
        assert service.principal_from_token(token).name == "olduser"
        assert service.store is not None
        user = service.store.get("olduser")
        assert user is not None and user.password_hash != old
        assert user.password_hash.startswith("$argon2id$") and user.token_version == version
    finally:
        service.close()
