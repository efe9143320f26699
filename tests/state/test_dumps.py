"""The fast encoder of plain values writes what `dumps` writes."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from connector.state.tables import dumps, dumps_values, loads

_SCALARS = st.none() | st.integers() | st.text()
_PLAIN = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(_PLAIN)
def test_plain_values_encode_to_the_same_text(value: object) -> None:
    """Written fields, journal changes and memory are text, whole numbers and None: the
    stored text must not depend on which encoder wrote it."""
    assert dumps_values(value) == dumps(value)


@given(
    st.recursive(
        _SCALARS | st.floats(allow_nan=False, allow_infinity=False),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
)
def test_finite_floats_read_back_as_the_same_values(value: object) -> None:
    """A CRM may send numbers as floats (Salesforce's 61.0): both encoders' text reads
    back as the same value."""
    assert loads(dumps_values(value)) == json.loads(dumps(value)) == value
