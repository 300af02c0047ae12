"""Stop sequences are cut exactly, even when they arrive split across chunks."""

from simplechat.engines.stops import StopFilter


def run(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    f = StopFilter(stops)
    out = []
    for piece in pieces:
        text, stopped = f.feed(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    out.append(f.flush())
    return "".join(out), False


def test_no_stops_passes_text_through_unchanged() -> None:
    assert run([], ["Hello", " world"]) == ("Hello world", False)


def test_stop_inside_one_piece_cuts_before_it() -> None:
    assert run(["END"], ["abcENDdef"]) == ("abc", True)


def test_stop_split_across_pieces_is_never_emitted() -> None:
    f = StopFilter(["</s>"])
    assert f.feed("Hi <") == ("Hi ", False)  # "<" could start the stop: held back
    assert f.feed("/") == ("", False)
    assert f.feed("s>tail") == ("", True)


def test_held_back_text_is_released_when_it_stops_matching() -> None:
    assert run(["STOP"], ["a ST", "ART b"]) == ("a START b", False)


def test_earliest_of_several_stops_wins() -> None:
    assert run(["world", "lo"], ["Hello world"]) == ("Hel", True)


def test_flush_returns_a_partial_match_at_the_end() -> None:
    assert run(["\n\n"], ["line\n"]) == ("line\n", False)


def test_empty_stop_strings_are_ignored() -> None:
    assert run([""], ["text"]) == ("text", False)
