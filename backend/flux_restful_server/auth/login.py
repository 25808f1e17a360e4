"""Checking a user name and password: the user store's hashes or PAM, throttled per address."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from ..settings import SettingsError
from . import pam as pam_backend
from .accounts import AccountRefused
from .errors import LoginFailed
from .identity import AuthStores, Identity
from .passwords import hash_password, verify_password
from .store import UserExists, UserStoreError, check_username
from .throttle import LoginThrottle

__all__ = ["PASSWORD_BACKENDS", "PasswordChecker"]

logger = logging.getLogger("flux_restful_server.auth")

PASSWORD_BACKENDS = frozenset({"database", "shared-secret", "pam"})
"""Backends where a user name and password can be checked (login form, handshake, Basic)."""


class PasswordChecker:
    """Verifies passwords on a pool of threads, with unknown users costing as much as known ones."""

    def __init__(self, stores: AuthStores) -> None:
        self._stores = stores
        self.throttle = LoginThrottle()
        """Failures per address and the verification threads."""
        self._pam: Any = None
        self._dummy_hash = ""

    @property
    def enabled(self) -> bool:
        """Whether user names and passwords are accepted (form login, Basic)."""
        return self._stores.backend in PASSWORD_BACKENDS

    async def open(self) -> None:
        """Load PAM or create the ``FLUX_USER`` superuser, and the hash unknown users cost.

        Raises:
            SettingsError: ``FLUX_USER`` is not a valid user name.
        """
        if self._stores.backend == "pam":
            self._pam = pam_backend.load_pam()
        else:
            await self._ensure_flux_user()
        self._dummy_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16))

    def close(self) -> None:
        """Stop the verification threads."""
        self.throttle.close()

    async def check(self, name: str, password: str, address: str = "") -> Identity:
        """Verify a user name and password (re-hashing outdated hashes), throttled per address.

        Raises:
            LoginFailed: Unknown user, wrong password, inactive user, or no password backend.
            LoginThrottled: ``address`` failed too often lately, or has too many checks under way.
            LoginBusy: Too many checks are waiting already.
        """
        if not self.enabled:
            raise LoginFailed(
                f"The {self._stores.backend} auth backend does not support password login."
            )
        self.throttle.admit(address, name)
        async with self.throttle.slot(address):
            try:
                return await self._check(name, password)
            except LoginFailed:
                self.throttle.failed(address, name)
                raise

    async def _check(self, name: str, password: str) -> Identity:
        stores = self._stores
        if stores.backend == "pam":
            return await self._check_pam(name, password)
        assert stores.store is not None
        user = stores.store.get(name)
        stored = user.password_hash if user is not None else self._dummy_hash
        # Unknown users cost one verification too, so timing does not reveal who exists.
        ok, new_hash = await self.throttle.run(verify_password, password, stored)
        if user is None or not ok:
            raise LoginFailed()
        if not user.is_active:
            raise LoginFailed("Inactive user")
        if new_hash:
            stores.store.set_password(name, new_hash, revoke_tokens=False)
        return Identity(
            name, user.is_superuser or name in stores.settings.admin_users, user.token_version
        )

    async def _check_pam(self, name: str, password: str) -> Identity:
        settings = self._stores.settings
        try:
            self._stores.accounts.owner(name)
        except AccountRefused:
            raise LoginFailed() from None
        ok = await self.throttle.run(
            pam_backend.pam_check, self._pam, settings.pam_service, name, password
        )
        if not ok:
            raise LoginFailed()
        return Identity(name, name in settings.admin_users, "pam")

    async def _ensure_flux_user(self) -> None:
        store = self._stores.store
        assert store is not None
        name, password = self._stores.settings.flux_user, self._stores.settings.flux_token
        if not name:
            return
        try:
            check_username(name)
        except UserStoreError as exc:
            raise SettingsError(f"FLUX_USER: {exc}") from None
        user = store.get(name)
        if password:
            if user is None:
                try:
                    store.add(
                        name, await asyncio.to_thread(hash_password, password), superuser=True
                    )
                except UserExists:
                    return  # another server worker, starting beside this one, just made it
                logger.info("Created superuser %s from FLUX_USER/FLUX_TOKEN", name)
                return
            ok, _ = await asyncio.to_thread(verify_password, password, user.password_hash)
            if not ok:
                new_hash = await asyncio.to_thread(hash_password, password)
                store.set_password(name, new_hash)
                logger.info("Updated the password of %s from FLUX_TOKEN", name)
        elif user is None:
            logger.warning(
                "FLUX_USER=%s is not a user and FLUX_TOKEN is unset, so no superuser was created",
                name,
            )
            return
        if not user or not user.is_superuser or not user.is_active:
            store.set_superuser(name, True)
            store.set_active(name, True)
