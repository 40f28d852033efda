"""Task math: the shipped MATH-500-layout rows, boxed answers judged by math-verify in their
equivalent forms, the full set by path (JSONL, or the Hub's parquet written by ``datasets``), and
``qstar eval task=math`` end to end with a tiny model."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from conftest import run_cli
from qstar.errors import QstarError
from qstar.math_answers import canonical, last_boxed, math_equal
from qstar_math import MathConfig, MathTask, solution_steps

SHIPPED = Path(str(resources.files("qstar_math").joinpath("data/test_sample.jsonl")))


def test_the_shipped_rows_load_and_their_solutions_are_judged_right():
    task = MathTask()
    problems = task.problems("test")
    assert len(problems) == 16 and len({p.id for p in problems}) == 16
    first = problems[0]
    assert first.id == "sample/prealgebra/1.json" and first.answer == "\\frac{1}{2}"
    assert first.metadata == {"solution": first.metadata["solution"], "level": 1, "subject": "Prealgebra"}
    assert task.prompt(first).startswith("Solve the math problem") and task.prompt(first).endswith(first.question)
    for p in problems:  # every reference solution, as steps, ends at its last step with the right answer
        steps = task.gold_trajectories(p)[0]
        assert not any(task.parse_step(p, [], s).terminal for s in steps[:-1]), p.id
        assert task.check_step(p, steps[:-1], steps[-1]).correct, p.id


# (reference answer, a model's boxed answer, right?)
FORMS = [
    ("\\frac{1}{2}", "\\frac12", True),
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "\\dfrac{1}{2}", True),
    ("\\frac{1}{2}", "1/2", True),
    ("\\frac{1}{2}", "\\frac{1}{3}", False),
    ("\\frac{1}{2}", "0.51", False),
    ("4\\sqrt{3}", "\\sqrt{48}", True),
    ("4\\sqrt{3}", "4\\sqrt3", True),
    ("4\\sqrt{3}", "3\\sqrt{4}", False),
    ("\\sqrt{3}", "1.732", False),  # a rounded radical is not the radical
    ("[2,3]", "[2, 3]", True),
    ("[2,3]", "(2,3)", False),  # open, not closed
    ("[2,3]", "[2,3)", False),
    ("(-\\infty,-2) \\cup (-2,2) \\cup (2,\\infty)", "(-\\infty, -2)\\cup(-2, 2)\\cup(2, \\infty)", True),
    ("(-\\infty,-2) \\cup (-2,2) \\cup (2,\\infty)", "(-\\infty, 2)\\cup(2, \\infty)", False),
    ("65^\\circ", "65", True),
    ("65^\\circ", "65^{\\circ}", True),
    ("65^\\circ", "115^\\circ", False),
    ("13", "13\\text{ cm}", True),  # units in \text{} are not part of the number
    ("13", "13 \\text{ centimeters}", True),
    ("13", "12\\text{ cm}", False),
    ("\\text{B}", "B", True),
    ("\\text{B}", "\\text{(B)}", True),
    ("\\text{B}", "\\text{A}", False),
    ("(-1,2)", "\\left( -1, 2 \\right)", True),
    ("(-1,2)", "(2,-1)", False),  # an ordered pair, not a set
    ("1,2,3", "3, 1, 2", True),  # all solutions, in any order
    ("1,2,3", "1, 2", False),
    ("x^2 + x - 6", "(x+3)(x-2)", True),
    ("x^2 + x - 6", "x^2 - x - 6", False),
    ("25\\pi", "25 \\pi", True),
    ("25\\pi", "78.54", False),
    ("\\begin{pmatrix} 17 \\\\ 39 \\end{pmatrix}", "\\begin{pmatrix}17\\\\39\\end{pmatrix}", True),
    ("\\begin{pmatrix} 17 \\\\ 39 \\end{pmatrix}", "\\begin{pmatrix}39\\\\17\\end{pmatrix}", False),
]


@pytest.mark.parametrize("gold, boxed, right", FORMS, ids=[f"{g} vs {b}" for g, b, _ in FORMS])
def test_answers_in_equivalent_forms_are_right_and_others_wrong(gold, boxed, right):
    task = MathTask()
    problem = task.parse_problem(f"Some problem. #### {gold}")
    verdict = task.check_step(problem, ["First, a step."], f"So the answer is $\\boxed{{{boxed}}}$.")
    assert verdict.terminal and verdict.answer == canonical(boxed) and verdict.correct is right


def test_boxes_steps_and_answers():
    assert last_boxed("a \\boxed{1} then \\boxed{\\frac{1}{\\sqrt{2}}} end") == "\\frac{1}{\\sqrt{2}}"  # the last box, nested braces kept
    assert last_boxed("\\fbox{7}") == "7" and last_boxed("so \\boxed 5.") == "5."
    assert last_boxed("cut off: \\boxed{\\frac{1}{2") is None and last_boxed("no box") is None
    assert canonical("\\left( \\dfrac{1}{2}, 3 \\right).") == "( \\frac{1}{2}, 3 )"
    assert not math_equal(None, "1") and not math_equal("1", None) and not math_equal(" ", "1")
    task = MathTask()
    p = task.problems("test")[0]
    step = task.check_step(p, [], "We subtract the fractions.")
    assert step.valid and not step.terminal and step.answer is None
    assert task.parse_step(p, [], "So it is $\\boxed{\\frac{1}{2}}$.").correct is None  # parsing never judges
    assert not task.check_step(p, [], "$\\boxed{}$").terminal  # an empty box states nothing
    assert solution_steps("First.\n\nThen $\\boxed{2}$.\n\nCheck: it works.", "2") == ["First.", "Then $\\boxed{2}$.\nCheck: it works."]
    assert solution_steps("It is 2.", "2") == ["It is 2.", "The final answer is $\\boxed{2}$."]
    assert task.parse_problem("test/1").id == "sample/prealgebra/2.json"
    assert task.parse_problem("sample/algebra/3.json").answer == "[2,3]"
    free = task.parse_problem("What is $1+1$? #### 2")
    assert free.answer == "2" and free.id == task.parse_problem("What is $1+1$? #### 2").id


def test_a_majority_of_equivalent_boxes_picks_the_right_answer():
    from qstar.engine import Engine
    from qstar.protocols import ExpandStats, Proposal
    from qstar_bestofn import BestOfN, BestOfNConfig
    from qstar_segmenters import ParagraphSegmenter

    class Scripted:
        texts = ["Subtract.\n\n$\\boxed{\\dfrac{1}{2}}$", "$\\boxed{\\frac{1}{2}}$", "$\\boxed{\\frac13}$"]

        def expand(self, prompts, k, seeds=None):
            raise AssertionError("best-of-n only rolls out")

        def rollout(self, prompts, k, seeds=None):
            return [[Proposal(t, 5, -1.0, ended=True) for t in self.texts[:k]] for _ in prompts], ExpandStats(15, [1] * len(prompts))

    task = MathTask()
    result = Engine(task, ParagraphSegmenter(), Scripted(), None).solve(
        BestOfN(BestOfNConfig(n=3, select="majority")), task.problems("test")[0]
    )
    assert result.answer == "\\frac{1}{2}" and result.correct  # \dfrac and \frac vote together


def test_the_full_set_by_path_jsonl_and_the_hub_parquet_read_the_same(tmp_path):
    import datasets

    rows = [json.loads(line) for line in SHIPPED.read_text().splitlines()]
    (tmp_path / "test.jsonl").write_text(SHIPPED.read_text())  # MATH-500's test.jsonl layout
    from_jsonl = MathTask(MathConfig(path=str(tmp_path / "test.jsonl"))).problems("test")
    hub = tmp_path / "hub"
    (hub / "data").mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(hub / "data" / "test-00000-of-00001.parquet")  # push_to_hub's layout
    from_parquet = MathTask(MathConfig(path=str(hub))).problems("test")
    assert [(p.id, p.question, p.answer, p.metadata) for p in from_parquet] == [
        (p.id, p.question, p.answer, p.metadata) for p in from_jsonl
    ]
    assert [p.id for p in from_jsonl] == [r["unique_id"] for r in rows] and len(from_jsonl) == 16
    with pytest.raises(QstarError, match=r"holds the 'test' split, not 'train'"):
        MathTask(MathConfig(path=str(tmp_path / "test.jsonl"))).problems("train")
    # MATH's own fields (type, "Level 2") and rows without an id
    (tmp_path / "math").mkdir()
    original = {"problem": "What is $2+2$?", "solution": "$2+2=\\boxed{4}$", "answer": "4", "type": "Algebra", "level": "Level 1"}
    (tmp_path / "math" / "test.jsonl").write_text(json.dumps(original) + "\n")
    (p,) = MathTask(MathConfig(path=str(tmp_path / "math"))).problems("test")
    assert p.id == "math-test-0" and p.metadata["subject"] == "Algebra" and p.metadata["level"] == "Level 1"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not json\n", r"test.jsonl:1: not JSON"),
        (b'{"problem": "What is 1+1?"}\n', r"test.jsonl: no answer column \(it has problem\)"),
        (b'{"problem": 5, "answer": "5"}\n', r'test.jsonl: row 1: "problem" must be non-empty text, not int'),
        (b'{"problem": "a", "answer": "1"}\n{"problem": "b", "answer": ""}\n', r'test.jsonl: row 2: "answer" must be non-empty text'),
        (b'{"problem": "caf\xe9", "answer": "1"}\n', r"test.jsonl:1: not UTF-8"),
        (b"42\n", r"test.jsonl:1: a MATH row is a JSON object"),
        (b"", r"holds no test rows"),
        (b"\n  \n", r"holds no test rows"),
    ],
)
def test_a_malformed_file_is_one_line_naming_it(tmp_path, content, message):
    (tmp_path / "test.jsonl").write_bytes(content)
    with pytest.raises(QstarError, match=message) as err:
        MathTask(MathConfig(path=str(tmp_path / "test.jsonl"))).problems("test")
    assert "\n" not in str(err.value)


def test_other_bad_paths_say_the_fix(tmp_path):
    with pytest.raises(QstarError, match=r"^task math ships 16 sample rows of a test split only: use split=test"):
        MathTask().problems("train")
    with pytest.raises(QstarError, match=r"does not exist"):
        MathTask(MathConfig(path=str(tmp_path / "nope.jsonl"))).problems("test")
    with pytest.raises(QstarError, match=r"has no test.jsonl or data/test-\*.parquet"):
        MathTask(MathConfig(path=str(tmp_path))).problems("test")
    (tmp_path / "test.parquet").write_text("not parquet")
    with pytest.raises(QstarError, match=r"test.parquet: not a parquet file"):
        MathTask(MathConfig(path=str(tmp_path / "test.parquet"))).problems("test")
    row = json.dumps({"problem": "a", "answer": "1", "unique_id": "x/1.json"})
    (tmp_path / "test.jsonl").write_text(f"{row}\n{row}\n")
    with pytest.raises(QstarError, match=r"unique_id 'x/1.json' appears twice"):
        MathTask(MathConfig(path=str(tmp_path / "test.jsonl"))).problems("test")
    with pytest.raises(QstarError, match=r"^problem=test/16: the test split has 16 rows"):
        MathTask().parse_problem("test/16")
    with pytest.raises(QstarError, match=r"^task.prompt must contain \{question\}"):
        MathConfig(prompt="Solve it.")


def test_qstar_eval_task_math_runs_end_to_end(tmp_path):
    """A tiny untrained model (long enough positions for MATH prompts) solves nothing, but the run
    completes over every shipped problem and writes its trees and results."""
    import torch

    from qstar.models import ArchConfig, build_causal_lm, build_number_tokenizer

    torch.manual_seed(0)
    tok = build_number_tokenizer()
    build_causal_lm(tok, ArchConfig(n_layer=1, n_embd=32, n_head=2, n_positions=512)).save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    out = tmp_path / "run"
    proc = run_cli(
        "eval",
        "task=math",
        f"task.path={SHIPPED}",
        f"model.name_or_path={tmp_path / 'tiny'}",
        "search=best-of-n",
        "search.n=2",
        "search.select=majority",
        "~scorer",
        "task.max_rollout_tokens=16",
        f"out_dir={out}",
        "progress=false",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["problems"] == 16 and results["setting"] == "learned" and results["config"]["task"]["name"] == "math"
    trees = [json.loads(line) for line in (out / "trees.jsonl").read_text().splitlines()]
    assert [t["problem"]["id"] for t in trees] == [json.loads(line)["unique_id"] for line in SHIPPED.read_text().splitlines()]
