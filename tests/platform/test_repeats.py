"""The `repeats` bucket's values: a map grown by one entry is written without encoding
it all again, and is the same bytes either way."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from fengqiao.platform.repeats import append_seen, encode_seen


@given(
    st.dictionaries(st.text(min_size=1, max_size=12), st.integers(0, 2**62), max_size=8),
    st.text(min_size=1, max_size=12),
    st.integers(0, 2**62),
)
def test_a_key_grown_by_one_entry_is_the_bytes_a_full_encoding_makes(
    seen: dict[str, int], dispute_id: str, at: int
) -> None:
    assume(dispute_id not in seen)
    assert append_seen(encode_seen(seen), dispute_id, at) == encode_seen({**seen, dispute_id: at})
