"""The parsers' shared test: garbage input raises ValueError with a message naming the fault."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pytest


def raises_value_error(
    parse: Callable[[str], object],
    cases: Sequence[tuple[str, str]] | Mapping[str, str],
    match: str = "",
) -> Callable[[str, str], None]:
    """A test: `parse(text)` raises ValueError matching a message (a regex), for each case.

    `cases` are (text, message) pairs; with `match`, the one message, they are texts by test id.
    """
    if match:
        assert isinstance(cases, Mapping)
        params = [pytest.param(text, match, id=name) for name, text in cases.items()]
    else:
        params = [pytest.param(text, message) for text, message in cases]

    @pytest.mark.parametrize(("text", "message"), params)
    def test(text: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            parse(text)

    return test
