"""Components for Hub models, proven with tiny models built from a config in-process: external
PRMs ("+/-" token at a step tag, token classification) against scores worked out from the same
model's logits, the chat template wrapping the task prompt, and the prompt-based ToT parsers."""

from __future__ import annotations

import pytest
import torch

from qstar.errors import QstarError
from qstar.tree import Problem
from qstar_prompting import parse_proposals, parse_value
from qstar_rm.external import ExternalPRMConfig, ExternalPRMScorer

WORDS = ["[PAD]", "[UNK]", "<eos>", "+", "-", "ки", "Q", "a", "b", "c", "d", "step", "one", "two", "three"]


def word_tokenizer(chat_template: str | None = None):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="<eos>")
    if chat_template:
        fast.chat_template = chat_template
    return fast


class PromptTask:
    def prompt(self, problem):
        return problem.question


@pytest.fixture(scope="module")
def prm_dirs(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForTokenClassification

    root = tmp_path_factory.mktemp("prms")
    tok = word_tokenizer()
    cfg = dict(
        vocab_size=len(WORDS),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=0,
        eos_token_id=2,
        bos_token_id=2,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**cfg)).save_pretrained(root / "plus-minus")
    torch.manual_seed(1)
    LlamaForTokenClassification(LlamaConfig(**cfg, num_labels=2)).save_pretrained(root / "classifier")
    for d in ("plus-minus", "classifier"):
        tok.save_pretrained(root / d)
    return root


PATHS = [["a b", "c"], ["a b"], ["d d d", "step one", "two"]]


def by_hand_positions(text: str) -> tuple[list[int], list[int]]:
    ids = [WORDS.index(w) for w in text.split()]
    return ids, [i for i, t in enumerate(ids) if t == WORDS.index("ки")]


def test_plus_minus_prm_is_p_good_at_each_step_tag(prm_dirs):
    from transformers import AutoModelForCausalLM

    scorer = ExternalPRMScorer(ExternalPRMConfig(model=str(prm_dirs / "plus-minus"), step_tag=" ки", separator=" "), PromptTask())
    problems = [Problem(id=str(i), question="Q a") for i in range(len(PATHS))]
    got = scorer.step_scores([p.question for p in problems], PATHS)
    model = AutoModelForCausalLM.from_pretrained(prm_dirs / "plus-minus").eval()
    plus, minus = WORDS.index("+"), WORDS.index("-")
    for steps, scores in zip(PATHS, got):
        ids, tags = by_hand_positions("Q a " + " ".join(f"{s} ки" for s in steps))
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        want = [torch.softmax(logits[t, [plus, minus]], -1)[0].item() for t in tags]
        assert scores == pytest.approx(want, abs=1e-5)
    # the scorer's score is the last step's, in its path's context; the root scores 0.5
    last = scorer.score(problems + [problems[0]], PATHS + [[]])
    assert last == pytest.approx([s[-1] for s in got] + [0.5], abs=1e-6)


def test_token_classification_prm_is_the_positive_class_probability(prm_dirs):
    from transformers import AutoModelForTokenClassification

    scorer = ExternalPRMScorer(
        ExternalPRMConfig(
            model=str(prm_dirs / "classifier"), kind="token-classification", step_tag=" ки", separator=" ", positive_label=1, batch_size=2
        ),
        PromptTask(),
    )
    got = scorer.step_scores(["Q a"] * len(PATHS), PATHS)
    model = AutoModelForTokenClassification.from_pretrained(prm_dirs / "classifier").eval()
    for steps, scores in zip(PATHS, got):
        ids, tags = by_hand_positions("Q a " + " ".join(f"{s} ки" for s in steps))
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        assert scores == pytest.approx([torch.softmax(logits[t], -1)[1].item() for t in tags], abs=1e-5)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"good_token": "a b"}, "scorer.good_token='a b' is 2 tokens for this tokenizer: it must be exactly one"),
        ({"kind": "token-classification", "positive_label": 2}, "scorer.positive_label=2: {model!r} has 2 classes (0–1)"),
        # a tag or token the tokenizer lacks reads as [UNK]: the scores would mean nothing
        (
            {"step_tag": " <step>"},
            "scorer.step_tag=' <step>' is unknown to {model!r}'s tokenizer (it encodes as [UNK]): set the tag the PRM was trained with",
        ),
        ({"good_token": "yes"}, "scorer.good_token='yes' is unknown to this tokenizer (it encodes as [UNK]): set the PRM's own token"),
    ],
)
def test_external_prm_bad_settings_are_one_line(prm_dirs, overrides, message):
    model = str(prm_dirs / ("classifier" if overrides.get("kind") else "plus-minus"))
    with pytest.raises(QstarError) as e:
        ExternalPRMScorer(ExternalPRMConfig(model=model, **overrides), PromptTask())
    assert str(e.value) == message.format(model=model)
    with pytest.raises(QstarError, match="scorer.kind='value': choose plus-minus or token-classification"):
        ExternalPRMConfig(model=model, kind="value")
    with pytest.raises(QstarError, match=r"scorer.positive_label=-1: a class index is 0 or more"):
        ExternalPRMConfig(model=model, kind="token-classification", positive_label=-1)


def test_a_chat_template_wraps_the_task_prompt_once(tmp_path):
    from types import SimpleNamespace

    from qstar.engine import Tree
    from qstar_hf import chat_formatter
    from qstar_segmenters import ParagraphSegmenter

    template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    tok = word_tokenizer(template)
    wrap = chat_formatter(tok, SimpleNamespace(chat_template=True, system_prompt="Be brief."))
    assert wrap("Q a") == "<system>Be brief.</system><user>Q a</user><assistant>"
    assert chat_formatter(tok, SimpleNamespace(chat_template=False))("Q a") == "Q a"
    assert chat_formatter(word_tokenizer(), SimpleNamespace(chat_template=True))("Q a") == "Q a"  # no template: unchanged

    from qstar_gsm8k import GSM8KTask

    task = GSM8KTask()
    tree = Tree(task.problems("test")[0], task, ParagraphSegmenter())
    tree.format_prompt = chat_formatter(tok, SimpleNamespace(chat_template=True, system_prompt=None))
    child = tree.add(tree.nodes[0], "She has 16 - 3 - 4 = 9 eggs left.")
    prompt = tree.prompt(child)
    assert prompt.startswith("<user>Solve the math word problem") and prompt.count("<user>") == 1
    assert prompt.endswith("</user><assistant>She has 16 - 3 - 4 = 9 eggs left.\n\n")


def test_proposal_lists_and_value_judgements_parse():
    text = "1. Add 3 and 4.\n2) Multiply by 2\n- Add 3 and 4.\nStep 4: Subtract 1\n\n"
    assert parse_proposals(text, 5) == ["Add 3 and 4.", "Multiply by 2", "Subtract 1"]
    assert parse_proposals(text, 2) == ["Add 3 and 4.", "Multiply by 2"]
    values = {"sure": 20.0, "likely": 1.0, "impossible": 0.001}
    assert parse_value("The numbers work out.\nSure", values) == 20.0
    assert parse_value("likely\nI think this is impossible.", values) == 0.001  # the last line decides
    assert parse_value("This is unlikely", values) == 0.0  # whole words only
    assert parse_value("", values) == 0.0


def test_a_step_the_model_ended_its_answer_with_ends_the_path():
    from qstar.engine import Engine
    from qstar.protocols import ExpandStats, Proposal
    from qstar_gsm8k import GSM8KTask
    from qstar_segmenters import ParagraphSegmenter

    class Scripted:
        def expand(self, prompts, k, seeds=None):
            return [[Proposal("She sells 9 eggs.", 5, -1.0), Proposal("She is done.", 4, -1.0, ended=True)] for _ in prompts], ExpandStats(
                18 * len(prompts), [1] * len(prompts)
            )

        def rollout(self, prompts, k, seeds=None):
            return [[Proposal("Nine eggs.\n\nShe stops here.", 9, -2.0, ended=True)] for _ in prompts], ExpandStats(
                9 * len(prompts), [1] * len(prompts)
            )

    task = GSM8KTask()
    tree_task, seg = task, ParagraphSegmenter()
    from qstar.engine import Tree

    tree = Tree(task.problems("test")[0], tree_task, seg)
    going, ended = Engine._add_steps(tree, tree.nodes[0], Scripted().expand(["p"], 2)[0][0])
    assert not going.terminal and ended.terminal and ended.answer is None  # the model closed its turn
    engine = Engine(task, seg, Scripted(), None)
    leaf = engine._add_rollout(tree, going, Scripted().rollout(["p"], 1)[0][0][0])
    assert [n.step for n in tree.path(leaf)[1:]] == ["She sells 9 eggs.", "Nine eggs.", "She stops here."]
    assert leaf.terminal and not tree.parent(leaf).terminal  # only the rollout's last step ends the path


def test_a_changed_gguf_file_gets_a_new_cache_entry(tmp_path, monkeypatch):
    from qstar.models import gguf_cache

    monkeypatch.setenv("QSTAR_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF one")
    first = gguf_cache(str(tmp_path), "m.gguf", "tokenizer")
    assert first == gguf_cache(str(tmp_path), "m.gguf", "tokenizer")
    f.write_bytes(b"GGUF two, longer")
    assert gguf_cache(str(tmp_path), "m.gguf", "tokenizer") != first
    assert gguf_cache(str(tmp_path), None, "tokenizer") is None
