"""Client settings: upstream's YAML file (``~/.flux-restful-cli/settings.yml``), stored tokens."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ._exceptions import FluxRestfulError

__all__ = [
    "ALLOWED_KEYS",
    "DEFAULT_HOST",
    "Settings",
    "SettingsError",
    "default_settings_file",
    "forget_token",
    "load_refresh_token",
    "load_token",
    "save_token",
    "tokens_file",
    "user_settings_dir",
    "user_settings_file",
]

DEFAULT_HOST = "http://127.0.0.1:5000"
"""Where the client looks for the API when nothing else says."""
ALLOWED_KEYS = ("config_editor", "flux_token", "flux_user", "host", "workdir")
"""Keys a settings file may hold (upstream's schema)."""
_REQUIRED_KEYS = ("config_editor", "host")
_INSTALL_DIR = Path(__file__).resolve().parent


class SettingsError(FluxRestfulError):
    """A settings file or value is invalid; the message says which and why."""


def default_settings_file() -> Path:
    """The packaged default settings file (what ``config --central`` edits)."""
    return _INSTALL_DIR / "settings.yml"


def user_settings_dir() -> Path:
    """``~/.flux-restful-cli``."""
    return Path.home() / ".flux-restful-cli"


def user_settings_file() -> Path:
    """``~/.flux-restful-cli/settings.yml``."""
    return user_settings_dir() / "settings.yml"


def tokens_file() -> Path:
    """``~/.flux-restful-cli/tokens.yml``: access tokens stored by ``login``, keyed by host."""
    return user_settings_dir() / "tokens.yml"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"Cannot read settings file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"Settings file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"Settings file {path} must hold a mapping of keys to values")
    return data


def _parse_value(value: str) -> Any:
    """Parse a value typed on the command line the way upstream does (true/false/none/null)."""
    word = value.strip().lower()
    if word == "true":
        return True
    if word == "false":
        return False
    if word in ("none", "null"):
        return None
    return value


def _substitute(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$install_dir", str(_INSTALL_DIR)).replace(
            "$root_dir", str(_INSTALL_DIR.parent)
        )
    return value


class Settings:
    """Upstream-compatible settings: the packaged defaults with one settings file layered on.

    The file is ``settings_file`` if given, else ``~/.flux-restful-cli/settings.yml`` when it
    exists, else the packaged default file.
    """

    def __init__(self, settings_file: str | os.PathLike[str] | None = None, validate: bool = True):
        """Load the settings.

        Args:
            settings_file: File layered on the defaults (and where :meth:`save` writes).
            validate: Check the keys against upstream's schema.

        Raises:
            SettingsError: The file cannot be read or is invalid.
        """
        self._data: dict[str, Any] = _read_yaml(default_settings_file())
        if settings_file is not None:
            path = Path(settings_file).expanduser()
            if not path.exists():
                raise SettingsError(f"Settings file {path} does not exist")
        elif user_settings_file().exists():
            path = user_settings_file()
        else:
            path = default_settings_file()
        self.settings_file = path
        """The file changes are saved to."""
        if path != default_settings_file():
            self._data.update(_read_yaml(path))
        if validate:
            self.validate()

    def validate(self) -> None:
        """Check the keys against upstream's schema.

        Raises:
            SettingsError: An unknown key, or a required key is missing.
        """
        unknown = sorted(set(self._data) - set(ALLOWED_KEYS))
        if unknown:
            raise SettingsError(
                f"Unknown settings key(s) {', '.join(unknown)} in {self.settings_file}; "
                f"allowed: {', '.join(ALLOWED_KEYS)}"
            )
        missing = [key for key in _REQUIRED_KEYS if not self._data.get(key)]
        if missing:
            raise SettingsError(f"Settings key(s) {', '.join(missing)} must be set")

    def get(self, key: str, default: Any = None) -> Any:
        """Return a value (``key:subkey`` reads inside a mapping), or ``default`` when unset."""
        value: Any = self._data
        for part in key.split(":"):
            if not isinstance(value, Mapping) or part not in value:
                return default
            value = value[part]
        return default if value is None else _substitute(value)

    def __getattr__(self, key: str) -> Any:
        """Read a setting as an attribute (``settings.host``)."""
        if key.startswith("_"):
            raise AttributeError(key)
        return self.get(key)

    def set(self, key: str, value: Any) -> None:
        """Set a value; strings ``true``/``false``/``none``/``null`` are parsed.

        Raises:
            SettingsError: ``key`` is not a settings key.
        """
        if key not in ALLOWED_KEYS:
            raise SettingsError(
                f"{key!r} is not a settings key; allowed: {', '.join(ALLOWED_KEYS)}"
            )
        self._data[key] = _parse_value(value) if isinstance(value, str) else value

    def add(self, key: str, value: Any) -> None:
        """Add to a list setting (upstream API; no list keys exist).

        Raises:
            SettingsError: Always, as no settings key is a list.
        """
        raise SettingsError(f"{key!r} is not a list setting")

    def remove(self, key: str, value: Any) -> None:
        """Remove from a list setting (upstream API; no list keys exist).

        Raises:
            SettingsError: Always, as no settings key is a list.
        """
        raise SettingsError(f"{key!r} is not a list setting")

    def update_params(self, params: Iterable[str]) -> None:
        """Apply ``-c`` parameters: ``set:key:value`` (the value may contain ``:``).

        Raises:
            SettingsError: A parameter is malformed or names an unknown key.
        """
        for param in params:
            action, _, rest = param.partition(":")
            key, sep, value = rest.partition(":")
            if action not in ("set", "add", "rm") or not sep or not key:
                raise SettingsError(
                    f"Invalid parameter {param!r}: use set:key:value (e.g. set:host:http://h:5000)"
                )
            if action == "set":
                self.set(key, value)
            elif action == "add":
                self.add(key, value)
            else:
                self.remove(key, value)

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the settings to ``path`` (default: the loaded file) and return where."""
        target = Path(path) if path is not None else self.settings_file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(self._data, sort_keys=False), encoding="utf-8")
        return target

    def inituser(self) -> Path:
        """Copy the active settings to ``~/.flux-restful-cli/settings.yml``.

        Raises:
            SettingsError: That file already exists.
        """
        target = user_settings_file()
        if target.exists():
            raise SettingsError(f"{target} already exists")
        return self.save(target)

    def edit(self) -> None:
        """Open the settings file in ``$EDITOR``, ``$VISUAL`` or ``config_editor``."""
        editor = os.environ.get("EDITOR") or os.environ.get("VISUAL") or self.get("config_editor")
        subprocess.run([*shlex.split(str(editor or "vi")), str(self.settings_file)], check=False)

    def as_dict(self) -> dict[str, Any]:
        """A copy of every setting."""
        return dict(self._data)


def _read_tokens() -> dict[str, dict[str, str]]:
    """Stored tokens by host: ``{"access_token": ..., "refresh_token": ...}``.

    Files written before refresh tokens hold the access token alone; they still read.
    """
    path = tokens_file()
    if not path.exists():
        return {}
    stored: dict[str, dict[str, str]] = {}
    for host, value in _read_yaml(path).items():
        if isinstance(value, Mapping):
            entry = {str(k): str(v) for k, v in value.items() if v}
        else:
            entry = {"access_token": str(value)} if value else {}
        if entry.get("access_token"):
            stored[str(host)] = entry
    return stored


def _write_tokens(tokens: Mapping[str, Mapping[str, str]]) -> Path:
    path = tokens_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(yaml.safe_dump({host: dict(entry) for host, entry in tokens.items()}))
    os.chmod(path, 0o600)
    return path


def load_token(host: str) -> str | None:
    """The access token ``login`` stored for ``host``, if any."""
    return _read_tokens().get(host.rstrip("/"), {}).get("access_token")


def load_refresh_token(host: str) -> str | None:
    """The refresh token stored with it (servers that issue them), if any."""
    return _read_tokens().get(host.rstrip("/"), {}).get("refresh_token")


def save_token(host: str, token: str, refresh_token: str | None = None) -> Path:
    """Store an access token (and its refresh token) for ``host``; return the file.

    Only the user can read the file (mode 0600).
    """
    tokens = _read_tokens()
    entry = {"access_token": token}
    if refresh_token:
        entry["refresh_token"] = refresh_token
    tokens[host.rstrip("/")] = entry
    return _write_tokens(tokens)


def forget_token(host: str) -> bool:
    """Remove the stored tokens for ``host``; return whether there were any."""
    tokens = _read_tokens()
    if tokens.pop(host.rstrip("/"), None) is None:
        return False
    _write_tokens(tokens)
    return True
