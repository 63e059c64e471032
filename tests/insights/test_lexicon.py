"""Loughran–McDonald scoring: counts, negation, scores and labels worked out by hand.

Each headline's matches were looked up by hand in the LM Master Dictionary (2014 edition):
positive GAINS, STRONG, BOOST, EFFECTIVE, IMPROVED; negative DECLINE, LOSSES, FRAUD, WEAK,
LOSS; in no list NIFTY, EARNINGS, BANKS, SHARES, PROBE, REFORM, WIDEN, HOLD, RBI, REPO, RATE.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deltastream.insights.lexicon import (
    LABEL_THRESHOLD,
    Lexicon,
    LexiconError,
    label,
    load_lexicon,
    overall,
    read_lexicon,
    score_text,
    tokenize,
)


@pytest.fixture(scope="module")
def lm() -> Lexicon:
    return load_lexicon()


def test_the_packaged_lists_are_the_2014_lm_edition(lm):
    # The 2014 Master Dictionary's published sizes.
    assert (len(lm.positive), len(lm.negative)) == (354, 2355)
    assert "LOSSES" in lm.negative and "GAINS" in lm.positive


def test_tokens_are_letter_runs_in_upper_case_and_nothing_is_stemmed():
    assert tokenize("Q3 losses didn't widen; NIFTY-50 +1.2%") == [
        "Q", "LOSSES", "DIDN'T", "WIDEN", "NIFTY"]


@pytest.mark.parametrize(("headline", "positive", "negative", "negated", "score", "word"), [
    ("Nifty gains as strong earnings boost banks",
     ["gains", "strong", "boost"], [], [], 1.0, "positive"),
    ("Bank shares decline on losses and fraud probe",
     [], ["decline", "losses", "fraud"], [], -1.0, "negative"),
    # effective: NOT is one token before it, so it counts as negative; GAINS has no negation
    # among WIDEN, YET, LOSSES... (three tokens before: LOSSES WIDEN YET).
    ("Reform was not effective; losses widen, yet gains hold",
     ["gains"], ["effective", "losses"], ["effective"], -1 / 3, "negative"),
    ("Strong quarter but weak guidance", ["strong"], ["weak"], [], 0.0, "neutral"),
    ("Losses, losses and more losses", [], ["losses"] * 3, [], -1.0, "negative"),
    ("RBI holds repo rate at 6.5%", [], [], [], 0.0, "neutral"),
])
def test_headlines_score_as_counted_by_hand(lm, headline, positive, negative, negated, score,
                                            word):
    s = score_text(headline, lm)
    assert (s.positive, s.negative, s.negated) == (positive, negative, negated)
    assert s.score == pytest.approx(score, abs=1e-15)
    assert s.label == word


def test_negation_reaches_three_tokens_back_and_no_further(lm):
    # NO SIGN IT IMPROVED: NO is the third token before IMPROVED.
    assert score_text("No sign it improved", lm).negated == ["improved"]
    # NO CHANGE RATES AND GROWTH IMPROVED: NO is the fifth.
    far = score_text("No change, rates and growth improved", lm)
    assert (far.positive, far.negated) == (["improved"], [])


def test_negative_words_are_never_flipped(lm):
    s = score_text("Not a loss", lm)
    assert (s.positive, s.negative, s.negated) == ([], ["loss"], [])


def test_overall_is_the_ratio_of_summed_matches(lm):
    scores = [score_text(h, lm) for h in ("Nifty gains as strong earnings boost banks",
                                          "Bank shares decline on losses and fraud probe",
                                          "Reform was not effective; losses widen, yet gains "
                                          "hold")]
    # P = 3 + 0 + 1, N = 0 + 3 + 2: (4 - 5) / 9.
    assert overall(scores) == (pytest.approx(-1 / 9), "neutral")
    assert overall([]) == (0.0, "neutral")


def test_labels_flip_at_the_threshold():
    assert LABEL_THRESHOLD == 0.2
    # (3 - 2) / 5 and (2 - 3) / 5.
    assert label((3 - 2) / 5) == "positive"
    assert label((2 - 3) / 5) == "negative"
    assert label(0.19) == label(-0.19) == "neutral"


def test_a_dictionary_csv_of_the_same_columns_can_replace_the_packaged_one(tmp_path: Path):
    path = tmp_path / "lm.csv"
    path.write_text("Word,Negative,Positive\nRALLY,0,2023\nSLUMP,2023,0\nTHE,0,0\n")
    own = read_lexicon(path)
    s = score_text("Rally fades into a slump, slump", own)
    assert (s.positive, s.negative, s.score) == (["rally"], ["slump", "slump"], -1 / 3)


def test_a_file_that_is_not_an_lm_csv_is_refused(tmp_path: Path):
    path = tmp_path / "words.csv"
    path.write_text("term,score\nrally,1\n")
    with pytest.raises(LexiconError, match="no column Negative, Positive, Word"):
        read_lexicon(path)
    with pytest.raises(LexiconError, match="cannot read"):
        read_lexicon(tmp_path / "missing.csv")
