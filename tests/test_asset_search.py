import pytest

from bot.domain import AssetCandidate
from bot.services.asset_search import (
    LEXICON_PATH,
    AssetIndex,
    AssetRecord,
    is_clear_winner,
    load_lexicon,
    normalize_tokens,
    plausible,
)

CATALOG = (
    AssetRecord("pump-1", "Pump 1", "P-001", "Building A / Line 1"),
    AssetRecord("pump-2", "Pump 2", "P-002", "Building A / Line 2"),
    AssetRecord("pump-3", "Pump 3", "P-003", "Building A / Line 1"),
    AssetRecord("pump-4", "Pump 4", "P-004", "Building A / Line 2"),
    AssetRecord("cpump-17", "Centrifugal Pump 17", "P-017", "Building A / Line 3"),
    AssetRecord("comp-1", "Compressor 1", "C-001", "Building A / Line 2"),
    AssetRecord("aircomp-2", "Air Compressor 2", "AC-002", "Building B / Line 1"),
    AssetRecord("ahu-2", "Air Handling Unit 2", "HV-0102", "Roof"),
    AssetRecord("ahu-12", "Air Handling Unit 12", "HV-0112", "Roof"),
    AssetRecord("ahu-5", "AHU-5", "HV-0105", "Roof"),
    AssetRecord("conveyor-2", "Conveyor Belt Line 2", "CB-02", "Building A / Line 2"),
    AssetRecord("boiler-2", "Boiler 2", "B-002", "Plant room"),
    AssetRecord("chiller-a", "Chiller A", "CH-A", "Roof"),
    AssetRecord("chiller-b", "Chiller B", "CH-B", "Roof"),
)
PUMP_IDS = {"pump-1", "pump-2", "pump-3", "pump-4", "cpump-17"}


@pytest.fixture
def index() -> AssetIndex:
    built = AssetIndex()
    built.upsert(CATALOG)
    return built


def ids(candidates: list[AssetCandidate]) -> list[str]:
    return [candidate.asset_id for candidate in candidates]


@pytest.mark.parametrize(
    "query",
    [
        "P-003",  # the tag as printed
        "p3",  # tag without dash or zeros
        "P 003",
        "P-0003",  # leading zeros never matter
        "pump 3",
        "Pump #3",
        "pump no. 3",
        "PUMP 03",
        "pmp 3",  # abbreviation from the lexicon
        "pump three",  # voice transcripts spell numbers out
    ],
)
def test_ways_of_naming_pump_3_all_preselect_it(index: AssetIndex, query: str) -> None:
    found = index.search(query)

    assert ids(found)[0] == "pump-3"
    assert is_clear_winner(found)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("AHU2", "ahu-2"),
        ("AHU-2", "ahu-2"),
        ("ahu 2", "ahu-2"),
        ("air handling unit 12", "ahu-12"),
        ("air handling unit 5", "ahu-5"),  # words for an asset named by its acronym
        ("ahu 5", "ahu-5"),
        ("compresser 1", "comp-1"),  # misspelling
        ("comp 1", "comp-1"),  # abbreviation
        ("air compresor 2", "aircomp-2"),
        ("chiler b", "chiller-b"),  # letter designators disambiguate like numbers
        ("boilr", "boiler-2"),
        ("centrifugal pump", "cpump-17"),
    ],
)
def test_abbreviations_typos_and_acronyms(index: AssetIndex, query: str, expected: str) -> None:
    found = index.search(query)

    assert ids(found)[0] == expected
    assert is_clear_winner(found)


def test_the_pump_on_line_3_is_the_pump_located_there(index: AssetIndex) -> None:
    found = index.search("the pump on line 3")

    assert ids(found)[0] == "cpump-17"
    assert is_clear_winner(found)


def test_a_number_mismatch_is_never_a_clear_match(index: AssetIndex) -> None:
    index.remove("pump-3")

    found = index.search("pump 3")

    assert not is_clear_winner(found)
    assert all(candidate.score < 50 for candidate in found)
    assert "pump-4" in ids(found)  # still offered as an alternative, just not preselected


def test_pump_3_ranks_pump_4_far_below(index: AssetIndex) -> None:
    scores = {candidate.asset_id: candidate.score for candidate in index.search("pump 3")}

    assert scores["pump-3"] == 100
    assert scores.get("pump-4", 0) < 50


def test_the_same_number_on_another_kind_of_asset_does_not_match(index: AssetIndex) -> None:
    found = index.search("boiler 2")

    assert ids(found)[:1] == ["boiler-2"]
    assert "aircomp-2" not in ids(plausible(found))


def test_an_unnumbered_mention_of_many_pumps_asks(index: AssetIndex) -> None:
    found = index.find_in_text("the pump is making a noise")

    assert not is_clear_winner(found)
    offered = plausible(found)
    assert len(offered) >= 4
    assert set(ids(offered)) <= PUMP_IDS


def test_a_single_pump_is_preselected_without_a_number() -> None:
    index = AssetIndex()
    index.upsert([AssetRecord("p", "Pump 1"), AssetRecord("b", "Boiler 1")])

    found = index.find_in_text("the pump is making a noise")

    assert ids(found)[0] == "p"
    assert is_clear_winner(found)


def test_a_line_number_in_the_name_beats_a_line_in_the_location() -> None:
    index = AssetIndex()
    index.upsert(
        [
            AssetRecord("cb5", "Conveyor Belt Line 5", "CBL-005", "Building A / Line 3"),
            AssetRecord("cb7", "Conveyor Belt Line 7", "CBL-007", "Building A / Line 5"),
            AssetRecord("lathe", "CNC Lathe 8", "LT-008", "Building A / Line 6"),
        ]
    )

    assert ids(index.find_in_text("noise from conveyer belt line 5, bearing hot"))[0] == "cb5"
    assert "lathe" not in ids(plausible(index.search("conveyor line 6")))


def test_same_name_in_two_buildings_is_ambiguous_until_the_place_is_named() -> None:
    index = AssetIndex()
    index.upsert(
        [
            AssetRecord("a", "Pump 3", "A-P-003", "Building A / Line 1"),
            AssetRecord("b", "Pump 3", "B-P-003", "Building B / Line 1"),
        ]
    )

    assert not is_clear_winner(index.search("pump 3"))
    found = index.search("pump 3 building b")
    assert ids(found)[0] == "b"
    assert is_clear_winner(found)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("pump 3 is leaking oil at the seal, urgent", "pump-3"),
        ("the compresser on line 2 stopped", "comp-1"),
        ("AHU-2 filter alarm again since this morning", "ahu-2"),
        ("P-017 making a grinding noise, bearing hot", "cpump-17"),
        ("chiller b tripped on high pressure twice", "chiller-b"),
        ("boiler in the plant room is down for 2 days", "boiler-2"),
        ("Pump #4 seal weeping, please check", "pump-4"),
    ],
)
def test_find_in_text_spots_the_asset_in_a_sentence(
    index: AssetIndex, sentence: str, expected: str
) -> None:
    found = index.find_in_text(sentence)

    assert ids(found)[0] == expected
    assert is_clear_winner(found)


def test_numeric_tags_match_a_search_but_not_stray_numbers_in_sentences() -> None:
    index = AssetIndex()
    index.upsert([AssetRecord("n", "Boiler 1", "2"), AssetRecord("p", "Pump 7", "P-007")])

    assert ids(index.search("002"))[0] == "n"
    found = index.find_in_text("pump 7 has been down for 2 days")
    assert ids(found)[0] == "p"
    assert is_clear_winner(found)


def test_find_in_text_without_any_asset_offers_nothing(index: AssetIndex) -> None:
    found = index.find_in_text("the coffee machine in the break room is empty again")

    assert plausible(found) == []


def test_two_assets_in_one_sentence_are_both_found(index: AssetIndex) -> None:
    found = index.find_in_text("pump 2 and chiller a both tripped after the power cut")

    assert set(ids(found)[:2]) == {"pump-2", "chiller-a"}


def test_upsert_replaces_by_asset_id_and_remove_forgets(index: AssetIndex) -> None:
    assert len(index) == len(CATALOG)

    index.upsert([AssetRecord("pump-3", "Pump 33", "P-033", "Building C")])

    assert len(index) == len(CATALOG)
    record = index.get("pump-3")
    assert record is not None and record.name == "Pump 33"
    assert ids(index.search("pump 33"))[0] == "pump-3"
    assert "pump-3" not in ids(index.search("P-003"))  # the old tag is gone

    index.remove("pump-3")
    index.remove("pump-3")  # unknown ids are ignored

    assert len(index) == len(CATALOG) - 1
    assert index.get("pump-3") is None
    assert "pump-3" not in ids(index.search("pump 33"))


def test_words_added_later_are_searchable() -> None:
    index = AssetIndex()
    index.upsert([AssetRecord("p", "Pump 1")])
    assert not is_clear_winner(index.search("extruder 1"))  # also caches "no such word"

    index.upsert([AssetRecord("x", "Extruder 1")])

    assert ids(index.search("extrudr 1"))[0] == "x"


def test_results_are_limited_sorted_and_carry_the_record_fields(index: AssetIndex) -> None:
    found = index.search("pump", limit=3)

    assert len(found) == 3
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    first = index.search("P-003")[0]
    assert first == AssetCandidate("pump-3", "Pump 3", "P-003", 100.0, "Building A / Line 1")


def test_empty_index_and_empty_query() -> None:
    assert AssetIndex().search("pump 3") == []
    index = AssetIndex()
    index.upsert(CATALOG)
    assert index.search("") == []
    assert index.search("pump", limit=0) == []


def test_accents_and_case_are_ignored() -> None:
    index = AssetIndex()
    index.upsert([AssetRecord("c", "Caldera 2"), AssetRecord("b", "Bomba 2")])

    assert ids(index.search("CALDÉRA 2"))[0] == "c"


def candidate(score: float, asset_id: str = "x") -> AssetCandidate:
    return AssetCandidate(asset_id=asset_id, name=asset_id, tag=None, score=score)


@pytest.mark.parametrize(
    ("scores", "clear"),
    [
        ([], False),
        ([95.0], True),
        ([70.0], False),  # alone but weak
        ([100.0, 84.0], True),
        ([100.0, 95.0], False),  # close second: ask
        ([90.0, 90.0, 90.0], False),
    ],
)
def test_is_clear_winner(scores: list[float], clear: bool) -> None:
    assert is_clear_winner([candidate(s, str(i)) for i, s in enumerate(scores)]) is clear


def test_plausible_drops_the_weak_tail_and_caps_at_five() -> None:
    ranked = [candidate(s, str(i)) for i, s in enumerate([100, 90, 75, 69, 40])]
    assert [c.score for c in plausible(ranked)] == [100, 90, 75]

    many = [candidate(80.0, str(i)) for i in range(8)]
    assert len(plausible(many)) == 5

    weak = [candidate(33.0, "a"), candidate(33.0, "b"), candidate(20.0, "c")]
    assert ids(plausible(weak)) == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Pmp #003", ["pump", "3"]),
        ("AHU2", ["ahu", "2"]),
        ("c/o hyd hose", ["change", "out", "hydraulic", "hose"]),
        ("REPL brg on compresser", ["replace", "bearing", "on", "compressor"]),
        ("pump three", ["pump", "3"]),
        ("the one on line 2", ["the", "one", "on", "line", "2"]),
    ],
)
def test_normalize_tokens(text: str, tokens: list[str]) -> None:
    assert normalize_tokens(text) == tokens


def test_lexicon_is_bundled_with_attribution() -> None:
    header = LEXICON_PATH.read_text(encoding="utf-8")[:3000]

    assert "MaintNorm" in header and "MIT License" in header
    lexicon = load_lexicon()
    assert 300 <= len(lexicon) <= 5000
    assert lexicon["hyd"] == ("hydraulic",)
    assert lexicon["pmp"] == ("pump",)
