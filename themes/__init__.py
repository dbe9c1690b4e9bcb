"""Dashboard themes as data: ``THEMES`` maps a name to a :class:`textual.theme.Theme`.

The app registers every theme on mount (:func:`register_themes`) and starts in :data:`DEFAULT_THEME`.
Widgets style themselves only through theme variables (``$primary``, ``$success``…), so a theme here
is all it takes to recolour the whole dashboard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.theme import Theme

if TYPE_CHECKING:
    from textual.app import App

__all__ = ["THEMES", "DEFAULT_THEME", "register_themes"]

DEFAULT_THEME = "portside-dark"

THEMES: dict[str, Theme] = {
    # Harbour at night: deep navy water, teal signal lights, amber buoys.
    "portside-dark": Theme(
        name="portside-dark",
        primary="#2AA1B3",
        secondary="#1F6F8B",
        accent="#F2A541",
        warning="#F2A541",
        error="#E05561",
        success="#5CC98A",
        foreground="#D8E2EA",
        background="#0F1A24",
        surface="#15232F",
        panel="#1C2F3E",
        dark=True,
        variables={
            "footer-key-foreground": "#F2A541",
            "block-cursor-text-style": "bold",
        },
    ),
    # Sailcloth and ink: warm paper background, deep teal accents.
    "portside-light": Theme(
        name="portside-light",
        primary="#0B6E82",
        secondary="#2A7FA8",
        accent="#B85F0F",
        warning="#A86200",
        error="#B8322A",
        success="#257A4A",
        foreground="#1E2A33",
        background="#F4F1EA",
        surface="#FBFAF6",
        panel="#E4DED1",
        dark=False,
        variables={
            "footer-key-foreground": "#0B6E82",
            "block-cursor-text-style": "bold",
        },
    ),
    # Maximum legibility: pure black and white, saturated signal colours, no translucency.
    "portside-high-contrast": Theme(
        name="portside-high-contrast",
        primary="#FFFF00",
        secondary="#00FFFF",
        accent="#FF66FF",
        warning="#FFFF00",
        error="#FF4444",
        success="#00FF00",
        foreground="#FFFFFF",
        background="#000000",
        surface="#000000",
        panel="#202020",
        dark=True,
        text_alpha=1.0,
        luminosity_spread=0.25,
        variables={
            "block-cursor-foreground": "#000000",
            "block-cursor-background": "#FFFF00",
            "block-cursor-text-style": "bold",
            "block-cursor-blurred-foreground": "#000000",
            "block-cursor-blurred-background": "#C0C0C0",
            "footer-key-foreground": "#FFFF00",
            "footer-description-foreground": "#FFFFFF",
            "border": "#FFFFFF",
            "border-blurred": "#A0A0A0",
        },
    ),
    # Ethan Schoonover's Solarized (dark).
    "portside-solarized": Theme(
        name="portside-solarized",
        primary="#268BD2",
        secondary="#2AA198",
        accent="#B58900",
        warning="#CB4B16",
        error="#DC322F",
        success="#859900",
        foreground="#93A1A1",
        background="#002B36",
        surface="#073642",
        panel="#0B4050",
        dark=True,
        variables={
            "footer-key-foreground": "#B58900",
        },
    ),
}


def register_themes(app: App[object]) -> None:
    """Make every Portside theme available to ``app`` (and its theme picker)."""
    for theme in THEMES.values():
        app.register_theme(theme)
