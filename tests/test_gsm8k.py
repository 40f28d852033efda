"""Task gsm8k: reference answers after '#### ', answers found in model prose, numeric comparison,
the shipped rows and the full file by path (JSONL, or the Hub's parquet layout), prose steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qstar.errors import QstarError
from qstar_gsm8k import GSM8KConfig, GSM8KTask, extract_answer, same_number
from qstar_gsm8k.answers import reference_answer, solution_steps
from qstar_segmenters import ParagraphSegmenter

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "test.jsonl"


@pytest.mark.parametrize(
    "text, answer",
    [
        ("The answer is 18.", "18"),
        ("So she makes $18 every day. The answer is $18.", "18"),
        ("Therefore the final answer is: **1,250**", "1250"),
        ("\\boxed{18}", "18"),
        ("The total is 5 + 13 = 18.\n#### 18", "18"),
        ("Answer: 18.00", "18"),
        ("The answer is -3.", "-3"),
        ("The answer is 0.5", "0.5"),
        ("The answer is 3/4.", "0.75"),  # normalized: a terminating fraction as a decimal
        ("The answer is 1/3.", "1/3"),
        ("She sells 9 eggs for $2 each.", None),  # no final answer stated
        ("The answer is not clear yet.", None),
    ],
)
def test_answers_are_found_in_prose(text, answer):
    assert extract_answer(text) == answer


def test_answers_compare_as_numbers():
    assert same_number("18", "18.00") and same_number("$1,000", "1000") and same_number("0.75", "3/4")
    assert not same_number("18", "19") and not same_number(None, "18") and not same_number("x", "x")


# Where the old hand-written reader and math-verify differ. The comment says which is right and
# so which one qstar_gsm8k.answers now follows.
@pytest.mark.parametrize(
    "text, answer",
    [
        # math-verify is right: a boxed answer in LaTeX is still a stated answer (the regex read none
        # of these, so the path went on past its answer)
        ("So she makes \\boxed{\\frac{3}{4}} of a pie.", "0.75"),
        ("\\boxed{18 \\text{ dollars}}", "18"),
        ("\\boxed{\\$1,000}", "1000"),
        ("\\boxed{\\dfrac{36}{2}}", "18"),
        ("\\boxed{x + 1}", "x + 1"),  # stated, though no number: the path ends, and it matches no reference
        # the hand-written phrases are right: math_verify.parse always falls back to some number
        ("She sells 9 eggs for $2 each.", None),  # parse → 2, but no final answer is stated
        ("The answer is 5, and 6 eggs are left over.", "5"),  # parse → 6, the last number
    ],
)
def test_where_the_hand_reader_and_math_verify_differ(text, answer):
    assert extract_answer(text) == answer


def test_the_comparison_stays_exact_where_math_verify_is_looser():
    """math_verify.verify rounds to six decimals and equates a symbol with itself; GSM8K answers are
    exact numbers, so exact comparison is right there. LaTeX numbers are read by math-verify."""
    from math_verify import parse, verify

    assert verify(parse("$0.1$"), parse("$0.1000001$")) and not same_number("0.1000001", "0.1")
    assert verify(parse("$1/3$"), parse("$0.333333$")) and not same_number("0.333333", "1/3")
    assert verify(parse("$x$"), parse("$x$")) and not same_number("x", "x")
    assert same_number("\\frac{1}{3}", "1/3") and same_number("\\dfrac{3}{4}", "0.75") and same_number("18\\text{ dollars}", "18")


def test_the_reference_is_after_the_four_hashes_and_becomes_steps():
    solution = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 1,018"
    assert reference_answer(solution) == "1018"
    assert solution_steps(solution) == [
        "Janet sells 16 - 3 - 4 = 9 duck eggs a day.",
        "She makes 9 * 2 = $18 every day.",
        "The answer is 1018.",
    ]


def test_shipped_rows_and_steps():
    task = GSM8KTask()
    problems = task.problems("test")
    assert len(problems) == 20 and problems[0].answer == "18" and problems[0].id == "gsm8k-test-0"
    assert "Janet" in task.prompt(problems[0]) and task.prompt(problems[0]).startswith("Solve the math word problem")
    step = task.check_step(problems[0], [], "She sells 9 eggs a day.")
    assert step.valid and not step.terminal and step.answer is None
    right = task.check_step(problems[0], ["She sells 9 eggs."], "She makes 9 * 2 = $18.\n\nThe answer is 18.")
    assert right.terminal and right.answer == "18" and right.correct
    assert task.parse_step(problems[0], [], "The answer is 17.").correct is None  # parsing never judges
    assert not task.check_step(problems[0], [], "The answer is 17.").correct
    gold = task.gold_trajectories(problems[0])[0]
    assert gold[-1] == "The answer is 18." and task.check_step(problems[0], gold[:-1], gold[-1]).correct
    assert task.parse_problem("test/1").question == problems[1].question
    free = task.parse_problem("What is 2 + 3? #### 5")
    assert free.answer == "5" and free.id == task.parse_problem("What is 2 + 3? #### 5").id
    seg = ParagraphSegmenter()
    assert seg.split("Step 1: add.\nThen 3.\n\n  \nThe answer is 3.\n\n") == ["Step 1: add.\nThen 3.", "The answer is 3."]


@pytest.mark.skipif(not DATA.is_file(), reason="the shared GSM8K file (../shared/data/gsm8k/test.jsonl) is not on this machine")
def test_the_whole_shared_test_file_reads():
    problems = GSM8KTask(GSM8KConfig(path=str(DATA))).problems("test")
    assert len(problems) == 1319 and problems[0].answer == "18"
    assert all(same_number(p.answer, p.answer) for p in problems)  # every reference is a number


def test_a_file_by_path_and_the_hub_layout(tmp_path):
    from importlib import resources

    sample = resources.files("qstar_gsm8k").joinpath("data/test_sample.jsonl").read_text()
    (tmp_path / "test.jsonl").write_text(sample)  # a GSM8K file of the Hub's test.jsonl shape
    task = GSM8KTask(GSM8KConfig(path=str(tmp_path / "test.jsonl")))
    problems = task.problems("test")
    assert len(problems) == 20 and problems[0].answer == "18" and problems[0].id == "gsm8k-test-0"
    with pytest.raises(QstarError, match=r"holds the 'test' split, not 'train'"):
        task.problems("train")
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in sample.splitlines()[:5]]
    (tmp_path / "main").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "main" / "train-00000-of-00001.parquet")
    hub = GSM8KTask(GSM8KConfig(path=str(tmp_path))).problems("train")
    assert [p.answer for p in hub] == [reference_answer(r["answer"]) for r in rows]
    (tmp_path / "test.jsonl").unlink()
    with pytest.raises(QstarError, match=r"has no test.jsonl or main/test-\*.parquet"):
        GSM8KTask(GSM8KConfig(path=str(tmp_path))).problems("test")


def test_gsm8k_bad_input_is_one_line():
    with pytest.raises(QstarError, match=r"^task gsm8k ships 20 rows of the test split only: use split=test"):
        GSM8KTask().problems("train")
    with pytest.raises(QstarError, match=r"^task.prompt must contain \{question\}"):
        GSM8KConfig(prompt="Solve it.")
    with pytest.raises(QstarError, match=r"^problem=test/20: the test split has 20 rows \(0–19\)$"):
        GSM8KTask().parse_problem("test/20")
