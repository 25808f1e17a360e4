"""Textual's footer, rebuilt only when the keys it shows change.

Textual's ``Footer`` recomposes (unmounts and mounts a widget per key, each styled again) every
time its screen publishes ``bindings_updated``: on every resume, focus change and stack change.
Opening a screen and going back then costs tens of milliseconds of restyling for a footer that
looks the same. This one remembers what it drew and skips the rebuild when nothing changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.screen import Screen

__all__ = ["KeysFooter", "footer_signature"]

Signature = tuple[tuple[str, str, str, bool, str], ...]


def footer_signature(screen: Screen[object]) -> Signature:
    """What a footer of ``screen`` shows: each key, its description, action, state and tooltip."""
    palette = screen.app.COMMAND_PALETTE_BINDING
    return tuple(
        (binding.key, binding.description, binding.action, enabled, tooltip)
        for key, (_, binding, enabled, tooltip) in screen.active_bindings.items()
        if binding.show or key == palette
    )


class KeysFooter(Footer):
    """A ``Footer`` that is recomposed only when its keys change."""

    def __init__(self) -> None:
        super().__init__()
        self._drawn: Signature | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        if not self.is_attached:
            return
        signature = footer_signature(self.screen)
        if signature == self._drawn:
            return
        self._drawn = signature
        await self.recompose()
