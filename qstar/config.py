"""Structured config schemas, one per command, stored in Hydra's ConfigStore.

The command YAMLs (``conf/<command>.yaml``) put these first in their defaults list, so a
misspelled top-level key is an error. Component groups (``task``, ``search`` …) are validated
against the schema their plugin registered when the component is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin
from omegaconf import MISSING

from qstar.errors import QstarError
from qstar.plugins import Registry, config_searchpaths, make_plugin_manager
from qstar.shards import parse_shard
from qstar.tracking import TrackingConfig
from qstar.training import TrainerConfig


@dataclass
class ModelConfig:
    name_or_path: Optional[str] = None  # local dir, pkg://package/dir, or Hub id; None = build from arch
    dtype: str = "float32"  # torch dtype the expander loads the weights in (float32, bfloat16, ...)
    device: str = "cpu"  # where the expander runs the model (cpu, cuda, cuda:1); training uses trainer=
    arch: dict = field(default_factory=dict)  # qstar.models.ArchConfig fields, used when building
    gguf_file: Optional[str] = None  # a GGUF file inside name_or_path: transformers dequantizes it to dtype on load
    chat_template: bool = True  # wrap the task's prompt as a user turn of the tokenizer's chat template, when it has one
    system_prompt: Optional[str] = None  # the chat's system turn (None: the template's own default, if any)

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise QstarError(f"model.dtype={self.dtype!r}: choose one of {', '.join(DTYPES)}")
        if self.device.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise QstarError(f"model.device={self.device!r}: use cpu, cuda, cuda:<index> or mps")
        if self.device.startswith("cuda") or self.device == "mps":
            import torch

            ok = torch.cuda.is_available() if self.device.startswith("cuda") else torch.backends.mps.is_available()
            if not ok:
                raise QstarError(f"model.device={self.device!r}: no such device on this machine; use model.device=cpu")


def check_problem_selection(limit: int, every: int) -> None:
    if every < 1:
        raise QstarError(f"every={every}: use 1 (every problem) or a larger step")
    if limit < 0:
        raise QstarError(f"limit={limit}: use 0 (the whole split) or a positive number of problems")


@dataclass
class CommonConfig:
    task: Any = MISSING  # the task: task=<name> picks one, task.<field>=... sets its options
    segmenter: Any = MISSING  # what a step is (segmenter=<name>); policy and scorers share it
    model: ModelConfig = field(default_factory=ModelConfig)  # the checkpoint (model=<name> or model.name_or_path=...)
    seed: int = 0  # seeds sampling (the expander YAML reads ${seed}) and training (seed_everything, data order)


@dataclass
class SearchCommonConfig(CommonConfig):
    expander: Any = MISSING  # the policy that proposes steps (expander=<name>)
    scorer: Any = None  # scores steps (scorer=<name>); null = none, for searches that never score
    search: Any = MISSING  # the search strategy (search=<name>)
    batch_problems: int = 16  # problems searched in lock-step, their requests batched together
    setting: str = "auto"  # oracle | rules | learned: asserts the scorer's setting (auto: whatever the scorer makes it)

    def __post_init__(self):
        if self.setting not in ("auto", "oracle", "rules", "learned"):
            raise QstarError(f"setting={self.setting!r}: choose auto, oracle, rules or learned")
        if self.batch_problems < 1:
            raise QstarError(f"batch_problems={self.batch_problems}: must be at least 1")


@dataclass
class SolveConfig(SearchCommonConfig):
    problem: str = "4 9 10 13"  # the problem, as the task parses it (Game of 24: four numbers)
    show_tree: bool = True  # print the searched tree before the answer


@dataclass
class SearchCommandConfig(SearchCommonConfig):
    split: str = "test"  # the task split to search (game24: train, val, test, all)
    limit: int = 0  # first N problems of the split; 0 = all
    every: int = 1  # keep every Nth problem of the split (a spread-out subset), before limit
    exclude: Optional[str] = None  # a text file of problem ids, one a line: leave these out (after every and limit)
    out_dir: Optional[str] = None  # default: Hydra's run directory
    progress: bool = True  # show a progress bar
    shard: Optional[str] = None  # i/n: this worker's share of the problems (stable hash of the id); qstar merge joins the n shards

    def __post_init__(self):
        super().__post_init__()
        check_problem_selection(self.limit, self.every)
        parse_shard(self.shard)
        if self.exclude is not None and not Path(self.exclude).is_file():
            raise QstarError(f"exclude={self.exclude}: no such file; pass a text file of problem ids, one a line")


@dataclass
class StrategyConfig:
    search: str = MISSING  # the registered search (beam, a-star, mcts, best-of-n …)
    overrides: list = field(default_factory=list)  # fixed overrides of this curve, as on the command line (search.k=4)
    sweep: str = MISSING  # the key varied along the curve (search.n, search.simulations, search.limits.generated_tokens …)
    values: list = field(default_factory=list)  # its values: one point of the curve each


def _default_scorers() -> dict:
    return {
        "learned": ["scorer=prm"],
        "rules": ["scorer=verifier", "scorer.lookahead=false"],
        "oracle": ["scorer=verifier", "scorer.lookahead=true"],
    }


@dataclass
class ComparisonConfig:
    settings: list = field(default_factory=lambda: ["learned"])  # the settings to compare in (oracle, rules, learned)
    scorers: dict = field(default_factory=_default_scorers)  # setting → the overrides that make it
    strategies: Dict[str, StrategyConfig] = field(default_factory=dict)  # curve name → its search and budget sweep


@dataclass
class EvalConfig(SearchCommandConfig):
    comparison: Optional[ComparisonConfig] = (
        None  # comparison=<preset>: strategies × budgets × settings (table, JSON, PNG); null = one search
    )
    tracking: TrackingConfig = field(default_factory=TrackingConfig)  # tracking.logger=tensorboard|mlflow: the results also go there


@dataclass
class TrainConfig(CommonConfig):
    optimizer: Any = MISSING  # the training method (optimizer=<name>)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)  # Lightning Trainer settings (trainer=cpu|gpu|ddp)
    data: Optional[str] = None  # sft: trees JSONL (None = the task's gold trajectories); prm/orm: labels JSONL or PRM800K .parquet/.json
    split: str = "train"  # split whose gold trajectories are trained on (unless data= is set)
    val_split: str = "val"  # split whose gold trajectories give val/loss; the best checkpoint is exported
    out_dir: Optional[str] = None  # checkpoints/, logs/ and the exported model/; default: Hydra's run directory
    resume: bool = False  # continue from <out_dir>/checkpoints/last.ckpt (needs out_dir=)


@dataclass
class LabelConfig(CommonConfig):
    expander: Any = MISSING  # the rollout policy (labeler=mc-rollout); not loaded for labeler=verifier
    labeler: Any = MISSING  # how steps are labelled: labeler=mc-rollout (AI feedback) | verifier (exact, for evaluation)
    data: Optional[str] = None  # the trees JSONL to label (written by qstar search)
    limit: int = 0  # first N trees of the file; 0 = all
    batch_problems: int = 16  # trees labelled in lock-step, their rollouts batched together
    out_dir: Optional[str] = None  # labels.jsonl goes here; default: Hydra's run directory
    progress: bool = True  # show a progress bar
    shard: Optional[str] = None  # i/n: label this worker's share of the trees (stable hash of the problem id); qstar merge joins them
    perturb: int = 0  # perturbed siblings per legal step (the task's perturb_step: plausible mistakes), labelled like any step; 0 = none
    rollouts: bool = False  # also write rollouts.jsonl: each labelled tree grown by its rollouts, as search trees (a right rollout is a right path: rft data=)

    def __post_init__(self):
        parse_shard(self.shard)
        if self.perturb < 0:
            raise QstarError(f"perturb={self.perturb}: use 0 (none) or a positive number of perturbed siblings per step")
        if self.limit < 0:
            raise QstarError(f"limit={self.limit}: use 0 (every tree) or a positive number of trees")
        if self.batch_problems < 1:
            raise QstarError(f"batch_problems={self.batch_problems}: must be at least 1")


@dataclass
class MergeConfig:
    inputs: list = field(default_factory=list)  # the out_dirs of the shard runs (shard=0/n … shard=n-1/n of one search, eval or label run)
    out_dir: Optional[str] = None  # the merged trees.jsonl / labels.jsonl (and run.json) go here; default: Hydra's run directory


@dataclass
class ViewConfig:
    data: Optional[str] = None  # the trees JSONL (qstar view <file> is the same as data=<file>)
    out: Optional[str] = None  # the HTML page to write; default: the data file with .html


@dataclass
class PluginsConfig:
    pass


SCHEMAS = {
    "solve": SolveConfig,
    "search": SearchCommandConfig,
    "eval": EvalConfig,
    "train": TrainConfig,
    "label": LabelConfig,
    "view": ViewConfig,
    "merge": MergeConfig,
    "plugins": PluginsConfig,
}


DTYPES = ("float32", "float16", "bfloat16", "float64")
CONFIG_MODULE = "qstar.conf"  # the repository's top-level conf/, installed as this package


class PluginConfigSearchPath(SearchPathPlugin):
    """Puts the config packages that installed plugins return from ``qstar_config_searchpath``
    on Hydra's search path, after qstar's own, for every composition: runs, ``--help`` (their
    options listed under their groups), ``--cfg`` and ``-m`` alike."""

    paths: list[str] = []

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        for path in self.paths:
            search_path.append(provider="qstar-plugin", path=path)


def use_plugin_config(paths: list[str]) -> None:
    """Make ``paths`` (``pkg://their_package.conf``) part of every Hydra search path in this process."""
    PluginConfigSearchPath.paths = list(paths)
    plugins = Plugins.instance()
    if PluginConfigSearchPath not in plugins.discover(SearchPathPlugin):
        plugins.register(PluginConfigSearchPath)


def store_schemas(registry: Registry | None = None) -> None:
    """Make every command composable (call it before composing): each command's schema goes to
    Hydra's ConfigStore as ``<command>_schema``, and the config packages of the installed plugins
    (``qstar_config_searchpath``) join the search path. ``registry``: the one the command already
    built (a fresh one otherwise)."""
    registry = registry or Registry(make_plugin_manager())
    cs = ConfigStore.instance()
    for command in registry.commands.values():
        if command.schema is not None:
            cs.store(name=f"{command.name}_schema", node=command.schema)
    use_plugin_config(config_searchpaths(registry.pm))
