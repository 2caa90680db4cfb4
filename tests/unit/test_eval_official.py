"""The official generative scoring protocol, rule by rule (paper-eval-tasks README, rules 2-7)."""

from difflib import SequenceMatcher

import pytest

from cola_core.eval.generations import GenerationRecord
from cola_core.eval.official import cut_generation, exact_correct, first_word, lambada_correct, normalize
from cola_core.eval.options import (
    answer_segment,
    letter_from_option_text,
    letter_from_text,
    match_options,
    predicted_option,
)
from cola_core.eval.scorers import OFFICIAL_OPTIONS, score_records

OPTS = ("Oxygen", "Carbon dioxide", "Nitrogen", "Hydrogen")


def mc_record(generation: str, answer: str = "Nitrogen", choices: tuple[str, ...] = OPTS) -> GenerationRecord:
    return GenerationRecord(
        id=0, prompt="Question: ...\nAnswer:", generate=generation, ground_truth=answer, choices=choices
    )


def option_verdict(generation: str, answer: str = "Nitrogen", choices: tuple[str, ...] = OPTS):
    return OFFICIAL_OPTIONS.score(mc_record(generation, answer, choices))


# rule 2: the cut


@pytest.mark.parametrize(
    "text,cut",
    [
        (" Paris is big.\nQuestion: next", " Paris is big."),
        (" no newline at all", " no newline at all"),
        ("\n\n Paris\nRome", "\n\n Paris"),  # newlines before any word do not cut
        ("\n \n", "\n \n"),  # no word anywhere: the whole generation
        ("", ""),
        ("...\n(B)\nmore", "...\n(B)"),  # punctuation is not a word character
    ],
)
def test_cut_at_the_first_newline_after_a_word(text, cut):
    assert cut_generation(text) == cut


# rule 3: normalisation


def test_normalize_drops_punctuation_keeps_articles_and_squeezes_spaces():
    assert normalize("  The  Old,\tMill!  ") == "the old mill"
    assert normalize("Rock'n'roll — “yes”") == "rocknroll yes"
    assert normalize("Ünïcode Wörds") == "ünïcode wörds"  # \w is Unicode-aware


def test_normalize_strips_before_punctuation_goes():
    # the written order: strip first, so space left behind by deleted punctuation stays (one space)
    assert normalize(", the man ran.") == " the man ran"
    assert normalize("Paris .") == "paris "
    assert not exact_correct(" the man ran", ", the man ran.")
    assert exact_correct(", the man ran.", ", the man ran.")


# rule 4: LAMBADA


def test_lambada_compares_first_words_of_the_normalised_cut():
    assert lambada_correct(" signs, he said.\nNext", "signs")
    assert lambada_correct("\n\nSigns!", "signs")  # newline before any word: not a cut
    assert lambada_correct(' "Signs" he said', "signs")
    assert not lambada_correct(" sign", "signs")
    assert not lambada_correct(" the signs", "signs")  # articles stay
    assert not lambada_correct("\nthe\nsigns", "signs")  # cut after "the"


def test_lambada_empty_generation_and_empty_answer():
    assert lambada_correct("", "")
    assert not lambada_correct("", "signs")
    assert not lambada_correct("signs", "")
    assert first_word("") == "" and first_word("  a b") == "a"


# rule 6: exact normalised match


def test_exact_match_is_difflib_ratio_one():
    assert exact_correct(" The old mill.\nQuestion", "the old mill")
    assert not exact_correct(" old mill", "the old mill")  # articles matter
    assert not exact_correct(" the old mill by the river", "the old mill")
    assert exact_correct("", "") and exact_correct("\n\n", "")
    assert not exact_correct("", "x") and not exact_correct("x", "")
    for a, b in [("abc", "abc"), ("abc", "abd"), ("", ""), ("the old mill", "the old mil")]:
        assert exact_correct(a, b) == (SequenceMatcher(None, normalize(a), normalize(b)).ratio() == 1.0)


# rule 5: the answer segment


@pytest.mark.parametrize(
    "text,segment",
    [
        ("The answer is (C).", "(C)."),
        ("I think.\nFinal answer: B\n", "B"),
        ("answer = D", "D"),
        ("Answer\uff1a A", "A"),  # full-width colon
        ("Answer: A\nmore text\n\n", "A"),  # lines without the keyword are skipped from the last
        ("Answer: A\nThe answer is B", "B"),  # the last line with a keyword wins
        ("answer: A, no, answer: B", "A, no, answer: B"),  # the first keyword on that line
        ("  Carbon dioxide ", "Carbon dioxide"),  # no keyword: the whole text
        ("He answered well", "He answered well"),  # keywords are whole words
    ],
)
def test_answer_segment(text, segment):
    assert answer_segment(text) == segment


# rule 5: letter from a text


@pytest.mark.parametrize(
    "text,index",
    [
        ("C", 2),
        ("(C)", 2),
        ("[C]", 2),
        ("C.", 2),
        ("(C).", 2),
        (" B ", 1),
        ("The answer is (C).", 2),
        ("answer: D", 3),
        ("Final answer is [A]", 0),
        ("I pick option B, clearly", 1),
        ("choice=C", 2),
        ("ANSWER IS C", 2),
        ("Answer: A then answer: B", 1),  # the last keyword letter
        ("Answer: B, not option E", 1),  # E names no option: the last letter that does
        ("maybe (A) or (D)", 3),  # short text: last bracketed letter
        ("E", None),
        ("(E)", None),  # a letter that names no option
        ("c", None),
        ("answer: b", None),  # option letters are capitals
        ("Answer: Carbon dioxide", None),  # "C" of a word is not a letter
        ("The answer is a gas", None),
        ("this text is longer than forty characters and ends with (A)", None),
        ("", None),
    ],
)
def test_letter_from_text(text, index):
    assert letter_from_text(text, 4) == index


# rule 5: letter from option text


@pytest.mark.parametrize(
    "text,index",
    [
        ("carbon dioxide", 1),
        ("Carbon dioxide.", 1),  # normalised equality
        ("The correct answer is nitrogen", 2),
        ("option: Hydrogen", 3),  # leading keyword stripped
        ("it must be nitrogen i guess", 2),  # exactly one option contained
        ("nitrogen and oxygen", None),  # two contained, none similar enough
        ("carbon dioxid", 1),  # similarity >= 0.9
        ("carbon", None),  # contained the wrong way round, similarity < 0.9
        ("", None),
    ],
)
def test_letter_from_option_text(text, index):
    assert letter_from_option_text(text, OPTS) == index


def test_prediction_tries_the_answer_segment_then_the_whole_cut():
    assert predicted_option(" The answer is (C).", OPTS) == 2
    assert predicted_option("\n\n(B)\nQuestion: next (A)", OPTS) == 1  # cut after (B)
    assert predicted_option(" Nitrogen\n(A) Oxygen", OPTS) == 2
    assert predicted_option(" Answer: it is\nHydrogen", OPTS) is None  # cut after the first line
    # segment "nothing" names nothing; the whole cut text contains exactly one option
    assert predicted_option(" Hydrogen, the answer: nothing", OPTS) == 3


def test_gold_letter_of_a_ground_truth_that_looks_like_a_letter():
    # OBQA item: the ground truth "O" is the 4th option's text; the letter O names no option
    m = match_options(" O", "O", ("food", "water", "nutrients", "O"))
    assert (m.predicted, m.gold) == (3, 3) and m.decided
    m = match_options(" (D)", "O", ("food", "water", "nutrients", "O"))
    assert m.decided


def test_option_scoring_awkward_cases():
    assert option_verdict(" The answer is (C).").correct
    assert option_verdict(" The answer is (C).").rule == "option_letter"
    assert option_verdict(" Nitrogen").correct  # option text instead of a letter
    assert option_verdict(" nitrogen!\nQuestion: next").correct
    wrong = option_verdict(" (B)")
    assert not wrong.correct and (wrong.predicted, wrong.gold) == ("B", "C")
    nothing = option_verdict(" (E)")  # names no option: rule 6 fallback, "e" != "nitrogen"
    assert not nothing.correct and nothing.rule == "exact" and nothing.predicted == ""
    assert not option_verdict("").correct  # empty generation
    assert not option_verdict(" The answer is a gas").correct


def test_option_fallback_to_exact_match():
    # an answer that is no option: no gold letter, so rule 6 decides
    assert option_verdict(" Helium.", answer="helium").correct
    assert not option_verdict(" Neon", answer="helium").correct
    # empty generation and empty answer: no letters; rule 6 counts two empty strings as equal
    assert option_verdict("", answer="").correct
    assert not option_verdict(" (A)", answer="").correct


def test_duplicate_options_take_the_first_equal_one():
    choices = ("4", "4.", "2", "6")
    assert letter_from_option_text("4", choices) == 0
    assert option_verdict(" 4.", answer="4.", choices=choices).correct  # both read as A


def test_rule5_task_accuracy_counts_both_paths():
    records = [mc_record(g) for g in (" The answer is (C).", " Nitrogen", " (B)", " (E)", "")]
    scores = score_records("mmlu", records)
    assert scores.scorer == "official-options" and scores.correct == 2 and scores.accuracy == pytest.approx(0.4)
