"""Templates: empty fields vanish cleanly, values are cleaned, configs are read."""

from __future__ import annotations

import pandas as pd
import pytest

from gnnrec.data.schema import DataError
from gnnrec.text.templates import (FALLBACK_TEMPLATE, RenderStats, clean_value, load_text_config,
                                   parse_template, render, render_texts, template_for)

ML = "{title} ({year}). Genres: {genres}"


@pytest.mark.parametrize("values, expected", [
    ({"title": "Heat", "year": "1995", "genres": "Action, Crime"},
     "Heat (1995). Genres: Action, Crime"),
    ({"title": "Heat", "genres": "Action"}, "Heat. Genres: Action"),
    ({"title": "Heat", "year": "1995"}, "Heat (1995)"),
    ({"title": "Heat"}, "Heat"),
    ({"year": "1995", "genres": "Drama"}, "(1995). Genres: Drama"),
    ({}, ""),
])
def test_ml_template_drops_missing_fields(values, expected):
    groups, tail = parse_template(ML)
    assert render(groups, tail, values) == expected


def test_trailing_literal_and_escaped_braces():
    groups, tail = parse_template("Movie {{x}}: {title} ({year}).")
    assert render(groups, tail, {"title": "A"}) == "Movie {x}: A."
    assert render(groups, tail, {"title": "A", "year": "1"}) == "Movie {x}: A (1)."
    assert render(groups, tail, {}) == ""


def test_amazon_template():
    groups, tail = parse_template("{title}. {attributes}")
    assert render(groups, tail, {"title": "pen"}) == "pen"
    assert render(groups, tail, {"attributes": "office"}) == "office"
    assert render(groups, tail, {"title": "pen", "attributes": "office"}) == "pen. office"


@pytest.mark.parametrize("bad", ["no fields", "{title", "{0}", "{a.b}", "{title!r}",
                                 "{year:04d}", "{}"])
def test_malformed_templates_raise(bad):
    with pytest.raises(DataError):
        parse_template(bad)


def test_clean_value_cases():
    stats = RenderStats()
    assert clean_value(None) == "" and clean_value(float("nan")) == "" and clean_value("nan") == ""
    assert clean_value(1995.0) == "1995"
    assert clean_value("Action|Crime| ") == "Action, Crime"
    assert clean_value("  a\tb\n\x00c ") == "a b c"
    assert clean_value(b"caf\xe9", stats=stats) == "caf\ufffd"          # Latin-1 byte, not UTF-8
    assert clean_value("a\udce9b", stats=stats) == "a\ufffdb"          # surrogateescape'd byte
    assert clean_value("caf\u00e9".encode()) == "caf\u00e9"            # valid UTF-8 bytes
    assert stats.invalid_utf8 == 2


def test_render_texts_frame_values_and_unknown_column():
    frame = pd.DataFrame({"title": ["Heat", "", None], "year": [1995.0, float("nan"), 1990.0],
                          "genres": ["Action|Crime", None, ""]})
    texts, stats = render_texts(frame, ML)
    assert texts == ["Heat (1995). Genres: Action, Crime", "", "(1990)"]
    assert stats.empty == 1
    users = pd.DataFrame({"gender": ["F", "M"], "age": ["25", "1"]})
    texts, _ = render_texts(users, "User: {gender}, age {age}",
                            values={"gender": {"F": "female"}, "age": {"1": "under 18"}})
    assert texts == ["User: female, age 25", "User: M, age under 18"]
    with pytest.raises(DataError, match="genre"):
        render_texts(frame, "{title} {genre}")


def test_configs_shipped_for_the_benchmarks():
    assert template_for("ml1m-cd") == ML
    assert template_for("amazon-ao") == "{title}. {attributes}"
    assert "{occupation}" in template_for("ml1m-cd", entity="user")
    assert load_text_config("ml1m-cd").values["occupation"]["12"] == "programmer"
    assert template_for("no-such-dataset") == FALLBACK_TEMPLATE
    assert template_for("no-such-dataset", ["name", "brand"]) == "{name}. {brand}"
    assert template_for("no-such-dataset", [], entity="user") is None
    assert template_for("amazon-ao", ["age"], entity="user") == "age: {age}"
