"""The security suite's browsers record every answer, so any test can search them for leaks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .helpers import RecordingBrowser


@pytest.fixture
def browser() -> Iterator[RecordingBrowser]:
    b = RecordingBrowser()
    yield b
    b.close()


@pytest.fixture
def other_browser() -> Iterator[RecordingBrowser]:
    b = RecordingBrowser()
    yield b
    b.close()
