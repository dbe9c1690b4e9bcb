"""Shared look of the dashboard's dialogs (run, build, tag, pull): a titled box of labelled fields."""

from __future__ import annotations

FORM_CSS = """
    align: center middle;
    background: $background 60%;
    & > Vertical {
        width: 76;
        max-width: 96%;
        height: auto;
        max-height: 96%;
        padding: 0 2;
        border: thick $primary 70%;
        background: $surface;
    }
    & .form--title {
        width: 100%;
        text-style: bold;
        color: $text-primary;
        margin: 1 0 0 0;
    }
    & .form--note {
        width: 100%;
        color: $text-muted;
    }
    & .form--row {
        height: auto;
        width: 100%;
        margin-top: 1;
    }
    & .form--row > Label {
        width: 12;
        color: $text-muted;
    }
    & .form--row > Input {
        width: 1fr;
    }
    & Checkbox {
        margin-top: 1;
    }
    & .form--buttons {
        width: 100%;
        height: auto;
        align-horizontal: right;
        margin: 1 0;
    }
    & .form--buttons > Button {
        margin-left: 2;
    }
"""
