"""The bad-input sweep: every case a user can get wrong ends with one line ``qstar: error: …``
naming the problem (and the fix), exit status 2, never a traceback — over every command.

The cases run the CLI's ``main`` in-process (a fresh process per case would spend minutes
importing torch); ``test_the_real_binary_exits_2`` runs a few of them as real processes. A new
command or option joins the sweep by adding a case to ``CASES``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import lightning  # noqa: F401 - imported here, not inside a captured test: its log handler keeps the real stderr
import pytest

from conftest import run_cli
from qstar.cli import main


def _corrupt_model(tmp: Path, policy_dir: Path) -> Path:
    d = tmp / "corrupt-model"
    shutil.copytree(policy_dir, d)
    (d / "model.safetensors").write_bytes(b"\x00\x01 not a safetensors file" * 10)
    return d


def _no_tokenizer(tmp: Path, policy_dir: Path) -> Path:
    d = tmp / "no-tokenizer"
    d.mkdir()
    for f in ("config.json", "model.safetensors", "generation_config.json"):
        shutil.copy(policy_dir / f, d / f)
    return d


def _tree_line(path=(0, 5)) -> str:
    from qstar.tree import Node, Problem, SearchResult

    r = SearchResult(problem=Problem(id="p", question="4 9 10 13"), nodes=[Node(id=0, parent=None)], path=list(path))
    return json.dumps(r.to_dict())


def _tree_with(nodes: list[dict], pid: str = "p") -> str:
    """A tree record whose nodes are given as dicts (ids, parents, steps as a careless file has them)."""
    base = json.loads(_tree_line(path=()))
    base["problem"]["id"] = pid
    base["nodes"] = [{**base["nodes"][0], **n} for n in nodes]
    return json.dumps(base)


def _gsm8k_dirs(tmp: Path) -> dict[str, str]:
    """GSM8K task.path directories a careless download or hand edit leaves."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = {
        "notparquet": None,
        "latin1": b'{"question": "caf\xe9?", "answer": "#### 1"}\n',
        "number": b"42\n",
        "qnumber": b'{"question": 5, "answer": "#### 1"}\n',
        "nohash": b'{"question": "How many?", "answer": "Five"}\n',
        "empty": b"",
        "columns": None,
    }
    out = {}
    for name, content in rows.items():
        d = tmp / f"gsm8k-{name}"
        (d / "main").mkdir(parents=True)
        if name == "notparquet":
            (d / "main" / "test-00000-of-00001.parquet").write_text("not parquet")
        elif name == "columns":
            pq.write_table(pa.table({"q": ["How many?"], "a": ["#### 1"]}), d / "main" / "test-00000-of-00001.parquet")
        else:
            (d / "test.jsonl").write_bytes(content)
        out[f"GSM_{name.upper()}"] = str(d)
    return out


def _math_files(tmp: Path) -> dict[str, str]:
    """MATH files (MATH-500's test.jsonl layout) a careless download or hand edit leaves."""
    rows = {
        "notjson": b"<!DOCTYPE html><html>a download that failed</html>\n",
        "noanswer": b'{"problem": "What is $1+1$?", "solution": "$1+1=\\\\boxed{2}$"}\n',
        "pnumber": b'{"problem": 7, "answer": "7"}\n',
        "empty": b"",
    }
    out = {}
    for name, content in rows.items():
        (tmp / f"math-{name}").mkdir()
        (tmp / f"math-{name}" / "test.jsonl").write_bytes(content)
        out[f"MATH_{name.upper()}"] = str(tmp / f"math-{name}" / "test.jsonl")
    return out


def _model_dirs(tmp: Path, policy_dir: Path) -> dict[str, str]:
    """Exports damaged after training: ILQL heads, a checkpoint, a reward model's config or tokenizer."""
    import pickle

    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from qstar.models import resolve_path

    out = {}
    for name, content in {"empty": b"", "corrupt": b"\x00\x01 not safetensors" * 8}.items():
        d = tmp / f"ilql-{name}"
        shutil.copytree(policy_dir, d)
        (d / "ilql_heads.safetensors").write_bytes(content)
        out[f"ILQL_{name.upper()}"] = str(d)

    class Payload:  # a pickle that would run code when loaded: never loaded (weights_only)
        def __reduce__(self):
            return (Path.touch, (tmp / "payload-ran",))

    for name, content in {"corrupt": b"not a checkpoint", "pickle": pickle.dumps({"global_step": 1, "x": Payload()})}.items():
        d = tmp / f"ckpt-{name}"
        (d / "checkpoints").mkdir(parents=True)
        (d / "checkpoints" / "last.ckpt").write_bytes(content)
        out[f"CKPT_{name.upper()}"] = str(d)
    prm = Path(resolve_path("pkg://qstar_game24/prm"))
    nodelim = tmp / "prm-no-delimiter"
    shutil.copytree(prm, nodelim)
    config = json.loads((nodelim / "config.json").read_text())
    del config["qstar_reward"]["step_delimiter"]
    (nodelim / "config.json").write_text(json.dumps(config))
    othertok = tmp / "prm-other-tokenizer"
    shutil.copytree(prm, othertok)
    words = Tokenizer(models.WordLevel({f"w{i}": i for i in range(5000)} | {"[UNK]": 5000}, unk_token="[UNK]"))
    PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]", pad_token="[UNK]").save_pretrained(othertok)
    out |= {"PRM_NODELIM": str(nodelim), "PRM_OTHERTOK": str(othertok)}
    return out


def _merge_inputs(tmp: Path) -> dict[str, str]:
    """Shard directories whose run record or trees are damaged."""
    record = {"command": "search", "shard": "0/1", "config": {}, "selection": ["p"]}
    cycle = _tree_with([{"id": 0, "parent": None}, {"id": 1, "parent": 2}, {"id": 2, "parent": 1}])
    out = {}
    for name, run_json, trees in (
        ("notjson", "{not json", _tree_line(path=())),
        ("command", json.dumps({**record, "command": "train"}), _tree_line(path=())),
        ("badtree", json.dumps(record), cycle),
    ):
        d = tmp / f"shard-{name}"
        d.mkdir()
        (d / "run.json").write_text(run_json)
        (d / "trees.jsonl").write_text(trees + "\n")
        out[f"SHARD_{name.upper()}"] = str(d)
    return out


def _files(tmp: Path, policy_dir: Path) -> dict[str, str]:
    (tmp / "a-file").write_text("x")
    (tmp / "cycle.jsonl").write_text(_tree_with([{"id": 0, "parent": None}, {"id": 1, "parent": 2}, {"id": 2, "parent": 1}]) + "\n")
    (tmp / "self.jsonl").write_text(_tree_with([{"id": 0, "parent": None}, {"id": 1, "parent": 1}]) + "\n")
    (tmp / "tworoots.jsonl").write_text(_tree_with([{"id": 0, "parent": None}, {"id": 1, "parent": None}]) + "\n")
    (tmp / "strids.jsonl").write_text(_tree_with([{"id": "0", "parent": None}]) + "\n")
    (tmp / "numstep.jsonl").write_text(_tree_with([{"id": 0, "parent": None}, {"id": 1, "parent": 0, "step": 5}]) + "\n")
    (tmp / "nonodes.jsonl").write_text(_tree_with([]) + "\n")
    (tmp / "dups.jsonl").write_text((_tree_line(path=()) + "\n") * 2)
    (tmp / "trees.html").write_text(_tree_line(path=()) + "\n")
    (tmp / "shard-a").mkdir()
    good = {
        "prompt": "Input: 4 9 10 13\n",
        "completions": ["13-9=4 (left: 4 4 10)"],
        "labels": [True],
        "soft_labels": [1.0],
        "node_ids": [1],
        "problem_id": "p",
    }
    for name, change in {
        "labels-number": {"labels": 5},
        "soft-out-of-range": {"soft_labels": [5.0]},
        "soft-strings": {"soft_labels": ["high"]},
        "prompt-null": {"prompt": None},
        "ids-length": {"node_ids": [1, 2]},
        "problem-list": {"problem_id": ["p"]},
    }.items():
        (tmp / f"{name}.jsonl").write_text(json.dumps({**good, **change}) + "\n")
    (tmp / "number-line.jsonl").write_text("42\n")
    (tmp / "good-labels.jsonl").write_text(json.dumps(good) + "\n")
    (tmp / "long-step-labels.jsonl").write_text(json.dumps({**good, "completions": ["1" * 100_000]}) + "\n")
    (tmp / "long-step.jsonl").write_text(_tree_with([{"id": 0, "parent": None}, {"id": 1, "parent": 0, "step": "1" * 100_000}]) + "\n")
    (tmp / "latin1.jsonl").write_bytes(b'{"caf\xe9": 1}\n')
    (tmp / "empty.jsonl").write_text("")
    (tmp / "missing-node.jsonl").write_text(_tree_line() + "\n")
    bad_trees = tmp / "bad-trees"
    bad_trees.mkdir()
    (bad_trees / "trees.jsonl").write_bytes(b"\xff\xfe\n")
    (tmp / "fresh").mkdir()
    return {
        "CORRUPT": str(_corrupt_model(tmp, policy_dir)),
        "NOTOK": str(_no_tokenizer(tmp, policy_dir)),
        "FILE": str(tmp / "a-file"),
        "LATIN1": str(tmp / "latin1.jsonl"),
        "EMPTY": str(tmp / "empty.jsonl"),
        "MISSINGNODE": str(tmp / "missing-node.jsonl"),
        "BADTREES": str(bad_trees),
        "FRESH": str(tmp / "fresh"),
        "NOPE": str(tmp / "nope.jsonl"),
        "CYCLE": str(tmp / "cycle.jsonl"),
        "SELF": str(tmp / "self.jsonl"),
        "TWOROOTS": str(tmp / "tworoots.jsonl"),
        "STRIDS": str(tmp / "strids.jsonl"),
        "NUMSTEP": str(tmp / "numstep.jsonl"),
        "NONODES": str(tmp / "nonodes.jsonl"),
        "DUPS": str(tmp / "dups.jsonl"),
        "HTMLDATA": str(tmp / "trees.html"),
        "SHARDA": str(tmp / "shard-a"),
        "GOODLABELS": str(tmp / "good-labels.jsonl"),
        "LONGSTEP": str(tmp / "long-step.jsonl"),
        "LONGSTEPLABELS": str(tmp / "long-step-labels.jsonl"),
        **_gsm8k_dirs(tmp),
        **_math_files(tmp),
        **_model_dirs(tmp, policy_dir),
        **_merge_inputs(tmp),
        **{
            name.upper().replace("-", "_"): str(tmp / f"{name}.jsonl")
            for name in ("labels-number", "soft-out-of-range", "soft-strings", "prompt-null", "ids-length", "problem-list", "number-line")
        },
    }


HUGE = "1" * 10_000

# (args, words the one line must contain)
CASES: list[tuple[list[str], list[str]]] = [
    # solve: config values
    (["solve", "model.dtype=float33"], ["model.dtype='float33'", "float32"]),
    (["solve", "model.device=cuda"], ["model.device='cuda'", "model.device=cpu"]),
    (["solve", "model.device=tpu"], ["model.device='tpu'"]),
    (["solve", "expander.top_k=-1"], ["expander.top_k=-1"]),
    (["solve", "expander.temperature=-0.5"], ["expander.temperature=-0.5"]),
    (["solve", "expander.top_p=0"], ["expander.top_p=0", "(0, 1]"]),
    (["solve", "expander.top_p=1.5"], ["expander.top_p=1.5"]),
    (["solve", "expander.max_step_tokens=0"], ["expander.max_step_tokens=0"]),
    (["solve", "search.k=0"], ["search.k=0", "positive"]),
    (["solve", "search.k=-3"], ["search.k=-3"]),
    (["solve", "search.breadth=0"], ["search.breadth=0"]),
    (["solve", "search.max_depth=-1"], ["search.max_depth=-1"]),
    (["solve", "search=best-of-n", "search.n=0"], ["search.n=0"]),
    (["solve", "search=best-of-n", "search.select=best"], ["search.select='best'", "majority"]),
    (["solve", "search=dfs", "search.max_expansions=0"], ["search.max_expansions=0"]),
    (["solve", "scorer=verifier", "scorer.intermediate=2"], ["scorer.intermediate=2"]),
    (["solve", "batch_problems=0"], ["batch_problems=0"]),
    (["solve", "~scorer"], ["needs a scorer", "scorer=verifier"]),
    (["solve", "search=best-of-n", "~scorer"], ["needs a scorer"]),
    # solve: names and keys
    (["solve", "model=nosuch"], ["unknown model 'nosuch'", "game24-policy, smollm2, tiny-gpt2"]),
    (["solve", "search=beem"], ["unknown search 'beem'", "tot-bfs"]),
    (["solve", "scorer=nosuch"], ["unknown scorer 'nosuch'", "verifier"]),
    (["solve", "search.no_such_key=1"], ["no_such_key", "valid keys"]),
    (["solve", "+search.no_such_key=1"], ["no_such_key", "valid keys"]),
    (["solve", "search.k=many"], ["search.k", "'many'"]),
    (["solve", "foo=1"], ["'foo'", "valid keys"]),
    (["solve", "model.foo=1"], ["'foo'", "name_or_path"]),
    # solve: problems
    (["solve", "problem=4 9 x 13"], ["malformed Game of 24 problem", "four whole numbers"]),
    (["solve", "problem=4 9 10"], ["four whole numbers"]),
    (["solve", f"problem={HUGE} 2 3 4"], ["malformed Game of 24 problem", "characters]"]),
    (["solve", "problem=4 9 1² 13"], ["non-ASCII", "quotes"]),
    (["solve", 'problem="4 9 1² 13"'], ["malformed Game of 24 problem"]),
    # solve: model directories
    (["solve", "model.name_or_path={NOPE}"], ["nope.jsonl", "save_pretrained"]),
    (["solve", "model.name_or_path={CORRUPT}"], ["cannot load model", "save_pretrained"]),
    (["solve", "model.name_or_path={NOTOK}"], ["no tokenizer files", "tokenizer.save_pretrained"]),
    # Hydra flags
    (["solve", "-m", "search.k=3,0"], ["search.k=0"]),
    (["solve", "-m", "search=tot-bfs,beem"], ["unknown search 'beem'"]),
    (["solve", "search=tot-bfs", "-m", "search.k=3,0"], ["search.k=0"]),  # overrides on both sides of -m
    (["solve", "search.k=0", "--cfg", "job"], ["search.k=0"]),
    (["solve", "--cfg", "jbo"], ["invalid choice", "--help"]),
    # search / eval
    (["eval", "limit=-5"], ["limit=-5"]),
    (["eval", "-m", "limit=-1,2"], ["limit=-1"]),
    (["search", "out_dir={FILE}"], ["existing file", "out_dir"]),
    (["search", "out_dir={FILE}/sub"], ["cannot create out_dir", "writable"]),
    (["search", "limit=1", "out_dir={BADTREES}"], ["not UTF-8", "trees.jsonl"]),
    (["eval", "split=nosuch", "out_dir={FRESH}"], ["unknown split 'nosuch'", "train, val, test"]),
    # train
    (["train", "trainer.accelerator=tpu"], ["trainer.accelerator='tpu'", "trainer=cpu"]),
    (["train", "trainer.accelerator=gpu"], ["trainer.accelerator='gpu'"]),
    (["train", "trainer.accelerator=abacus"], ["trainer.accelerator='abacus'", "cpu"]),
    (["train", "trainer.max_steps=-5"], ["trainer.max_steps=-5"]),
    (["train", "trainer.max_steps=0"], ["trainer.max_steps=0"]),
    (["train", "trainer.checkpoint_every_n_steps=0"], ["checkpoint_every_n_steps=0"]),
    (["train", "optimizer.batch_size=0"], ["optimizer.batch_size=0"]),
    (["train", "optimizer.lr=-1"], ["optimizer.lr=-1.0"]),
    (["train", "trainer=nosuch"], ["unknown trainer 'nosuch'", "cpu, ddp, ddp-cpu, fsdp, gpu"]),
    (["train", "optimizer=nosuch"], ["unknown optimizer 'nosuch'", "sft"]),
    (["train", "data={NOPE}"], ["nope.jsonl", "does not exist"]),
    (["train", "data={LATIN1}"], ["latin1.jsonl:1", "not UTF-8"]),
    (["train", "data={EMPTY}"], ["empty.jsonl", "holds no trees"]),
    (["train", "data={MISSINGNODE}"], ["missing-node.jsonl:1", "node 5"]),
    (["train", "resume=true"], ["resume=true needs out_dir"]),
    (["train", "resume=true", "out_dir={FRESH}"], ["last.ckpt does not exist", "without resume"]),
    # tracking (trainer.logger of train, tracking.logger of eval and loop)
    (["train", "trainer.logger=banana"], ["trainer.logger='banana'", "csv, tensorboard, mlflow"]),
    (["eval", "tracking.logger=banana"], ["tracking.logger='banana'", "csv, tensorboard, mlflow"]),
    (["loop", "tracking.logger=banana"], ["tracking.logger='banana'", "csv, tensorboard, mlflow"]),
    (
        ["eval", "tracking.logger=mlflow", "tracking.tracking_uri=banana://x", "out_dir={FRESH}"],
        ["tracking_uri=banana://x: cannot start an MLflow run", "check the URI"],
    ),
    # label
    (["label"], ["needs data="]),
    (["label", "data={NOPE}"], ["nope.jsonl", "does not exist"]),
    (["label", "data={LATIN1}"], ["latin1.jsonl:1", "not UTF-8"]),
    (["label", "labeler=nosuch"], ["unknown labeler 'nosuch'", "mc-rollout, verifier"]),
    (["label", "labeler.n=0"], ["labeler.n=0"]),
    (["label", "limit=-1"], ["limit=-1"]),
    # reward models, settings, compare
    (["eval", "every=0"], ["every=0"]),
    (["solve", "scorer=verifier", "setting=learned"], ["setting=learned but scorer=verifier", "scorer=prm"]),
    (["solve", "setting=orcale"], ["setting='orcale'", "learned"]),
    (["solve", "scorer=prm", "scorer.aggregate=max"], ["scorer.aggregate='max'", "min, prod, last, mean"]),
    (["solve", "scorer=prm", "scorer.model={NOPE}"], ["nope.jsonl", "save_pretrained"]),
    (["solve", "scorer=prm", "scorer.model={CORRUPT}"], ["cannot load reward model", "qstar train optimizer=prm"]),
    (["solve", "search=tot-bfs", "search.rank=best"], ["search.rank='best'", "last or path"]),
    # the step-level searches and their limits
    (["solve", "search=beam", "search.beams=0"], ["search.beams=0", "positive"]),
    (["solve", "search=beam", "search.select=top"], ["search.select='top'", "weighted"]),
    (["solve", "search=dvts", "search.subtrees=-2"], ["search.subtrees=-2"]),
    (["solve", "search=a-star", "search.g=cost"], ["search.g='cost'", "path, logprob or none"]),
    (["solve", "search=a-star", "search.lam=-1"], ["search.lam=-1", "non-negative"]),
    (["solve", "search=mcts", "search.c_puct=-0.5"], ["search.c_puct=-0.5"]),
    (["solve", "search=mcts", "search.simulations=0"], ["search.simulations=0"]),
    (["solve", "search=mcts", "search.limits.generated_tokens=-5"], ["search.limits.generated_tokens=-5", "0 (no limit)"]),
    (["solve", "search=beam", "search.limits.seconds=3"], ["search.limits", "seconds"]),
    (["solve", "search=mcts", "~scorer"], ["needs a scorer"]),
    # comparison presets and the viewer
    (["eval", "comparison=game25"], ["comparison", "game25", "game24"]),
    (["eval", "comparison=game24", "comparison.settings=[exact]"], ["comparison.settings has 'exact'"]),
    (["eval", "comparison=game24", "comparison.strategies.mcts.values=[0]"], ["search.simulations=0"]),
    (["view"], ["qstar view needs a trees file"]),
    (["view", "{NOPE}"], ["does not exist"]),
    (["view", "{LATIN1}"], ["not UTF-8"]),
    (["view", "{MISSINGNODE}", "out={FRESH}/page.txt"], ["node 5"]),
    (["train", "optimizer=prm"], ["optimizer=prm learns from step labels", "data="]),
    (["train", "optimizer=prm", "data={NOPE}"], ["nope.jsonl", "does not exist"]),
    (["train", "optimizer=prm", "data={LATIN1}"], ["latin1.jsonl:1", "not UTF-8"]),
    (["train", "optimizer=prm", "data={EMPTY}"], ["empty.jsonl", "no stepwise records"]),
    (["train", "optimizer=prm", "optimizer.target=soft-ish"], ["optimizer.target='soft-ish'", "soft or hard"]),
    (["train", "optimizer=orm", "optimizer.positive_ratings=[2]"], ["positive_ratings=[2]", "-1, 0, 1"]),
    (["compare", "ns=[0,4]"], ["ns=[0, 4]", "ns=[1,4,16,64]"]),
    (["compare", "prm.aggregate=max"], ["scorer.aggregate='max'"]),
    (["compare", "tree_search.k=0"], ["search.k=0"]),
    (["compare", "limit=-1"], ["limit=-1"]),
    # offline RL, the loop, the expanders
    (["train", "optimizer=dpo", "optimizer.margin=1.5"], ["optimizer.margin=1.5", "[0, 1)"]),
    (["train", "optimizer=dpo", "model.name_or_path=pkg://qstar_game24/policy", "data={NOPE}"], ["nope.jsonl", "does not exist"]),
    (["train", "optimizer=sft", "optimizer.source=web"], ["optimizer.source='web'", "random-legal"]),
    (
        ["loop", "optimizer=rft", 'explore_overrides=["expander.temperature=1.5"]'],
        ["explore_overrides apply to", "add train_uncovered=true"],
    ),
    (["search", "exclude=/nonexistent/done.txt"], ["exclude=/nonexistent/done.txt: no such file", "problem ids"]),
    (["train", "optimizer=rft", "optimizer.val_by=puzzle"], ["optimizer.val_by='puzzle'", "path or problem"]),
    (["train", "optimizer=ilql", "optimizer.expectile=1.5"], ["optimizer.expectile=1.5", "(0, 1)"]),
    (["train", "optimizer=ilql", "optimizer.reward=dense"], ["optimizer.reward='dense'", "outcome or labels"]),
    (["solve", "expander=ilql"], ["ilql_heads.safetensors", "optimizer=ilql"]),
    (["loop", "rounds=-1"], ["rounds=-1"]),
    (["loop", "sample_from=0"], ["sample_from=0", "rounds count from 1"]),
    (["loop", "sample_n=-4"], ["sample_n=-4", "positive number of samples"]),
    (["loop", "optimizer=ppo"], ["optimizer", "ppo"]),
    (["loop", "label_n=0"], ["label_n=0"]),
    (["loop", "optimizer=prm"], ["optimizer='prm'", "dpo, ilql, rft"]),
    (["solve", "expander.kv_cache_mb=-1"], ["expander.kv_cache_mb=-1", "MiB"]),
    (["solve", "expander=vllm", "expander.block_size=0"], ["expander.block_size=0"]),
    # malformed trees: refused when read, before any work (a parent cycle used to hang qstar label)
    (["label", "data={CYCLE}"], ["cycle.jsonl:1", "node 1 has parent 2", "no cycle"]),
    (["label", "data={SELF}"], ["self.jsonl:1", "node 1 has parent 1"]),
    (["label", "data={TWOROOTS}"], ["tworoots.jsonl:1", "node 1 has parent None", "one root"]),
    (["label", "data={STRIDS}"], ["strids.jsonl:1", "node ids must be 0, 1, 2"]),
    (["view", "{NUMSTEP}", "out={FRESH}/p.html"], ["numstep.jsonl:1", "node 1's step is int, not text"]),
    (["label", "data={NONODES}"], ["nonodes.jsonl:1", "no nodes"]),
    (["label", "data={DUPS}"], ["holds problem 'p' twice", "trees 1 and 2"]),
    (["train", "optimizer=rft", "model.name_or_path=pkg://qstar_game24/policy", "data={CYCLE}"], ["cycle.jsonl:1", "no cycle"]),
    # malformed label records: one reader (qstar.labels) for PRM, DPO and ILQL data
    (
        ["train", "optimizer=dpo", "model.name_or_path=pkg://qstar_game24/policy", "data={LABELS_NUMBER}"],
        ["labels-number.jsonl:1", "one label each"],
    ),
    (
        ["train", "optimizer=dpo", "model.name_or_path=pkg://qstar_game24/policy", "data={SOFT_OUT_OF_RANGE}"],
        ["soft-out-of-range.jsonl:1", "soft_labels must lie in [0, 1]"],
    ),
    (
        ["train", "optimizer=ilql", "model.name_or_path=pkg://qstar_game24/policy", "data={SOFT_STRINGS}"],
        ["soft-strings.jsonl:1", "soft_labels must lie in [0, 1]"],
    ),
    (
        ["train", "optimizer=ilql", "model.name_or_path=pkg://qstar_game24/policy", "data={PROMPT_NULL}"],
        ["prompt-null.jsonl:1", '"prompt" must be text'],
    ),
    (["train", "optimizer=dpo", "model.name_or_path=pkg://qstar_game24/policy", "data={IDS_LENGTH}"], ["ids-length.jsonl:1", '"node_ids"']),
    (["train", "optimizer=prm", "data={PROBLEM_LIST}"], ["problem-list.jsonl:1", '"problem_id" must be text']),
    (["train", "optimizer=prm", "data={NUMBER_LINE}"], ["number-line.jsonl:1", "JSON object, not int"]),
    # NaN and infinity: one check for every float option
    (["solve", "scorer.policy_weight=nan"], ["scorer.policy_weight=nan", "finite"]),
    (["solve", "expander.temperature=inf"], ["expander.temperature=inf", "finite"]),
    (["solve", "search=a-star", "search.lam=nan"], ["search.lam=nan", "finite"]),
    (["solve", "search=mcts", "search.c_puct=nan"], ["search.c_puct=nan", "finite"]),
    (["solve", "search.limits.wall_time=nan"], ["search.limits.wall_time=nan", "finite"]),
    (["train", "optimizer=dpo", "optimizer.lr=inf"], ["optimizer.lr=inf", "finite"]),
    # nothing written over an input
    (["view", "{HTMLDATA}"], ["overwrite its own data file", "out=<another name>.html"]),
    (["merge", "inputs=[{SHARDA},{FRESH}]", "out_dir={SHARDA}"], ["is one of the inputs", "pick another out_dir"]),
    (["train", "optimizer=ilql", "optimizer.val_percent=150"], ["optimizer.val_percent=150", "[0, 100)"]),
    # task files: one reader (qstar_gsm8k) checks every row of JSONL and parquet
    (["eval", "task=gsm8k", "task.path={GSM_NOTPARQUET}"], ["parquet: not a parquet file", "JSONL"]),
    (["eval", "task=gsm8k", "task.path={GSM_LATIN1}"], ["test.jsonl:1: not UTF-8"]),
    (["eval", "task=gsm8k", "task.path={GSM_NUMBER}"], ["test.jsonl:1", "JSON object", "not int"]),
    (["eval", "task=gsm8k", "task.path={GSM_QNUMBER}"], ["test.jsonl:1", '"question" must be non-empty text']),
    (["eval", "task=gsm8k", "task.path={GSM_NOHASH}"], ["test.jsonl:1", 'does not end with "#### <number>"']),
    (["eval", "task=gsm8k", "task.path={GSM_EMPTY}"], ["holds no test rows"]),
    (["eval", "task=gsm8k", "task.path={GSM_COLUMNS}"], ["no question, answer column", "it has q, a"]),
    # ... and qstar_math's reader (the datasets library, then a check of every row)
    (["eval", "task=math", "task.path={MATH_NOTJSON}"], ["test.jsonl:1: not JSON", "one JSON object per line"]),
    (["eval", "task=math", "task.path={MATH_NOANSWER}"], ["test.jsonl: no answer column (it has problem, solution)", "MATH-500"]),
    (["eval", "task=math", "task.path={MATH_PNUMBER}"], ["test.jsonl: row 1", '"problem" must be non-empty text, not int']),
    (["eval", "task=math", "task.path={MATH_EMPTY}"], ["holds no test rows", "MATH-500's test.jsonl"]),
    # damaged exports and checkpoints
    (["solve", "expander=ilql", "model.name_or_path={ILQL_EMPTY}"], ["cannot load", "ilql_heads.safetensors", "optimizer=ilql"]),
    (
        ["train", "optimizer=ilql", "model.name_or_path={ILQL_CORRUPT}", "data={GOODLABELS}", "trainer.max_steps=1"],
        ["cannot load", "ilql_heads.safetensors"],
    ),
    (["train", "resume=true", "out_dir={CKPT_CORRUPT}"], ["cannot resume from", "last.ckpt", "damaged", "without resume=true"]),
    (["train", "resume=true", "out_dir={CKPT_PICKLE}"], ["cannot resume from", "last.ckpt"]),
    (["solve", "scorer=prm", "scorer.model={PRM_NODELIM}"], ["qstar_reward needs kind", "step_delimiter", "optimizer=prm"]),
    (["solve", "scorer=prm", "scorer.model={PRM_OTHERTOK}"], ["tokenizer has 5001 tokens but the model embeds 1258", "another model"]),
    (["compare", "prm.model={PRM_NODELIM}", "limit=1"], ["step_delimiter"]),
    (["merge", "inputs=[{SHARD_NOTJSON}]", "out_dir={FRESH}/m1"], ["run.json is not JSON", "rerun that shard"]),
    (["merge", "inputs=[{SHARD_COMMAND}]", "out_dir={FRESH}/m2"], ["run.json names command 'train'", "search, eval, label"]),
    (["merge", "inputs=[{SHARD_BADTREE}]", "out_dir={FRESH}/m3"], ["trees.jsonl:1", "no cycle", "rerun that shard"]),
    # settings that are legal to type but cannot do what they say
    (["eval", "comparison=game24", "comparison.settings=[]"], ["comparison.settings is empty", "learned"]),
    (
        ["eval", "comparison=game24", "comparison.strategies={}"],
        ["comparison.strategies={} changes nothing", "~comparison.strategies.<name>"],
    ),
    (["train", "trainer.val_check_interval=0"], ["trainer.val_check_interval=0.0"]),
    (["train", "trainer.gradient_clip_val=-1"], ["trainer.gradient_clip_val=-1.0", "≥ 0"]),
    (["train", "trainer.devices=0"], ["trainer.devices=0", "-1 (all)"]),
    (["train", "trainer.max_time=abc"], ["trainer.max_time='abc'", "DD:HH:MM:SS"]),
    (["train", "trainer.precision=banana"], ["trainer.precision='banana'", "bf16-mixed"]),
    (["train", "optimizer=dpo", "optimizer.weight_decay=-1"], ["optimizer.weight_decay=-1.0"]),
    (["train", "optimizer=ilql", "optimizer.num_workers=-1"], ["optimizer.num_workers=-1"]),
    (["solve", "expander=vllm", "expander.top_k=-5"], ["expander.top_k=-5", "0 (off)"]),
    (["solve", "expander=vllm", "expander.max_model_len=-1"], ["expander.max_model_len=-1"]),
    (["solve", "expander=vllm", "model=smollm2"], ["expander=vllm does not load model.gguf_file", "expander=hf"]),
    (["solve", "model=tiny-gpt2"], ["model.name_or_path is empty", "only qstar train can start from"]),
    (
        ["solve", "task=gsm8k", "problem=test/0", "search=best-of-n", "search.n=1", "search.select=majority", "~scorer"],
        ["a prompt of 416 tokens does not fit the model's context of 128 positions"],
    ),
    # served models (a wrong model name needs a server: tests/test_served.py)
    (
        ["solve", "expander=openai", "expander.base_url=http://127.0.0.1:9/v1", "expander.max_retries=0"],
        ["cannot reach the server at http://127.0.0.1:9/v1", "expander.base_url"],
    ),
    (
        ["solve", "expander=openai", "expander.api_key_env=QSTAR_NO_SUCH_KEY"],
        ["the environment variable QSTAR_NO_SUCH_KEY is not set", "expander.api_key_env=null"],
    ),
    (["solve", "expander=openai", "expander.base_url=localhost:8000"], ["expander.base_url='localhost:8000'", "http://"]),
    (["solve", "expander=openai", "expander.concurrency=0"], ["expander.concurrency=0"]),
    (["solve", "scorer=hf-prm", "scorer.kind=token-classification", "scorer.positive_label=-1"], ["scorer.positive_label=-1"]),
    (["solve", "search.prune=2"], ["search.prune=2.0 drops every state", "at most 1.0"]),
    (["solve", "search=dfs", "scorer=verifier", "search.threshold=1"], ["search.threshold=1.0 drops every state"]),
    (["label", "data={LONGSTEP}"], ["long-step.jsonl:1", "100,000 characters"]),
    (["train", "optimizer=prm", "data={LONGSTEPLABELS}"], ["long-step-labels.jsonl:1", "100,000 characters"]),
    (["judge"], ["qstar judge needs data=<trees.jsonl"]),
    (["judge", "data={CYCLE}", "threshold=1.5"], ["threshold=1.5", "(0, 1)"]),
    (["judge", "data={CYCLE}"], ["cycle.jsonl:1", "no cycle"]),
    (["judge", "data={EMPTY}", "task=gsm8k"], ["task 'gsm8k' cannot judge reachability"]),
    # other commands
    (["plugins", "foo=1"], ["'foo'"]),
    (["sovle"], ["unknown command 'sovle'"]),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory, policy_dir):
    return _files(tmp_path_factory.mktemp("bad-input"), policy_dir)


def _fill(args: list[str], files: dict[str, str]) -> list[str]:
    out = []
    for a in args:
        for key, value in files.items():
            a = a.replace("{" + key + "}", value)
        out.append(a)
    return out


def assert_one_line(code, out: str, err: str, needles: list[str]) -> None:
    assert code == 2, f"exit {code}\n{err}\n{out}"
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("qstar: error: ")
    assert len(lines[0]) < 400, lines[0]  # huge values are cut short
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_the_sweep_covers_every_command():
    assert len(CASES) >= 40
    assert {args[0] for args, _ in CASES} >= {"solve", "search", "eval", "train", "label", "compare", "view", "loop", "plugins"}


@pytest.mark.parametrize("args,needles", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(args, needles, files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["qstar"])
    with pytest.raises(SystemExit) as exc:
        main(_fill(args, files))
    out, err = capsys.readouterr()
    assert_one_line(exc.value.code, out, err, needles)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("trees.jsonl"))


@pytest.mark.parametrize("args", [["solve", "model.dtype=float33"], ["eval", "-m", "search.k=3,0"], ["train", "optimizer.lr=-1"]])
def test_the_real_binary_exits_2(args, tmp_path):
    proc = run_cli(*args, cwd=tmp_path)
    assert_one_line(proc.returncode, proc.stdout, proc.stderr, [args[-1].split(",")[-1].split("=")[0]])


def test_a_pickled_payload_in_a_checkpoint_is_refused_and_never_run(files, tmp_path, monkeypatch, capsys):
    import pickle

    ckpt = Path(files["CKPT_PICKLE"]) / "checkpoints" / "last.ckpt"
    marker = ckpt.parents[2] / "payload-ran"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["train", "resume=true", f"out_dir={ckpt.parents[1]}"])
    assert_one_line(exc.value.code, *capsys.readouterr(), ["cannot resume from"])
    assert not marker.exists()
    pickle.loads(ckpt.read_bytes())  # what an unsafe load would have done
    assert marker.exists()
