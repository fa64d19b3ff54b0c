from __future__ import annotations

from channels_in.adapters.meta import from_epoch, split_text


def test_short_text_is_one_piece():
    assert split_text("hello", 10) == ["hello"]
    assert split_text("", 10) == []


def test_long_text_is_cut_at_spaces_and_line_breaks():
    assert split_text("aaaa bbbb cccc", 10) == ["aaaa bbbb", "cccc"]
    assert split_text("aaaaaa\nbbbbbbb", 10) == ["aaaaaa", "bbbbbbb"]


def test_a_word_longer_than_the_limit_is_cut_hard():
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert all(len(piece) <= 2000 for piece in split_text("word " * 1000, 2000))


def test_epoch_timestamps_become_aware_utc():
    seconds = from_epoch("1739321024")
    millis = from_epoch(1739321024123, millis=True)
    assert seconds is not None and seconds.isoformat() == "2025-02-12T00:43:44+00:00"
    assert millis is not None and millis.isoformat() == "2025-02-12T00:43:44.123000+00:00"
    assert from_epoch("soon") is None
    assert from_epoch(None) is None
