"""The search engine: trees, and a driver that batches the requests of many searches.

A search strategy is a generator that yields :class:`~qstar.protocols.Expand`,
:class:`~qstar.protocols.Rollout` and :class:`~qstar.protocols.Score` requests. The driver keeps
many problems in flight, gathers the pending requests of all of them, answers each kind with one
batched model call, and charges every tree for its share of the compute (tokens exactly; wall
time in proportion to the sequences it asked for).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
from collections import defaultdict
from typing import Any, Callable, Sequence

from qstar.errors import QstarError
from qstar.protocols import Expand, Expander, Rollout, Score, Scorer, Search, Segmenter, Task
from qstar.seeding import stable_int  # noqa: F401 - re-exported (public since the engine keyed streams)
from qstar.tree import Budget, Limits, Node, Problem, SearchResult

SETTINGS = ("oracle", "rules", "learned")

AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "min": min,
    "prod": math.prod,
    "last": lambda xs: xs[-1],
    "mean": lambda xs: sum(xs) / len(xs),
}


def setting_of(scorer: Any) -> str:
    """The setting a scorer puts a search in: *learned* (a learned scorer, or none: the policy's
    log-probs and answer votes), *oracle* (the verifier with exact look-ahead) or *rules*."""
    if scorer is None:
        return "learned"
    learned = getattr(scorer, "learned", None)
    if not isinstance(learned, bool):  # fail closed: an undeclared judge never sees the unblinded task
        raise QstarError(
            f"scorer {getattr(scorer, 'name', type(scorer).__name__)!r} does not say whether it is learned: "
            "give its class the attribute learned = True (a trained judge) or learned = False (rules only)"
        )
    if learned:
        return "learned"
    return "oracle" if getattr(scorer, "lookahead", False) else "rules"


def check_setting(requested: str, scorer: Any) -> str:
    """The setting ``scorer`` makes; a one-line error when ``requested`` (not ``auto``) differs."""
    derived = setting_of(scorer)
    if requested not in ("auto", *SETTINGS):
        raise QstarError(f"setting={requested!r}: choose auto, oracle, rules or learned")
    if requested != "auto" and requested != derived:
        fix = {
            "learned": "scorer=prm or scorer=orm (or none, with search.select=majority)",
            "oracle": "scorer=verifier scorer.lookahead=true",
            "rules": "scorer=verifier scorer.lookahead=false",
        }[requested]
        name = getattr(scorer, "name", "none")
        raise QstarError(f"setting={requested} but scorer={name} makes the search {derived}: use {fix}")
    return derived


class BlindTask:
    """The task as a search sees it in the *learned* setting: it parses, it does not judge.

    ``check_step`` becomes the task's ``parse_step`` (is the step well-formed, does it end the
    path, what answer does it state), ``state_key`` the task's ``parse_state`` (the state the
    text claims, unchecked). Correctness, legality and look-ahead are not reachable: ``solvable``
    is absent and ``is_correct`` raises. Results are still graded by the real task afterwards."""

    def __init__(self, task: Task):
        if not hasattr(task, "parse_step"):
            raise QstarError(f"setting=learned needs a task that parses steps without judging them (parse_step); {task.name!r} has none")
        self._task = task
        self.name, self.max_depth = task.name, task.max_depth
        if hasattr(task, "parse_state"):
            self.state_key = task.parse_state

    def problems(self, split):
        return self._task.problems(split)

    def parse_problem(self, text):
        return self._task.parse_problem(text)

    def prompt(self, problem):
        return self._task.prompt(problem)

    def check_step(self, problem, previous, step):
        return self._task.parse_step(problem, previous, step)

    def is_correct(self, problem, answer):
        raise QstarError("setting=learned: a search asked the task whether an answer is right; only learned scores may judge")

    def gold_trajectories(self, problem):
        raise QstarError("setting=learned: a search asked the task for gold solutions")


def score_steps(scorer: Any, steps: Sequence[tuple["Tree", Node]]) -> list[float]:
    """``scorer``'s score of each node's step in its path context (one batched call), times
    π(step)^w when the scorer has a ``policy_weight`` w: the node's recorded log-prob, which for a
    sampled completion sits on its last step (the whole sample's probability)."""
    if not steps:
        return []
    values = scorer.score([t.problem for t, _ in steps], [t.steps(n) for t, n in steps])
    weight = getattr(scorer, "policy_weight", 0.0)
    return [float(v) * math.exp(weight * n.logprob) if weight else float(v) for (_, n), v in zip(steps, values)]


class Tree:
    """The nodes grown for one problem; node ids are list positions, the root is node 0."""

    def __init__(self, problem: Problem, task: Task, segmenter: Segmenter, judge: Task | None = None, aggregate: str = "min"):
        self.problem, self.task, self.segmenter = problem, task, segmenter
        self.judge = judge or task  # grades the chosen answer (the real task, even when ``task`` is blinded)
        self.aggregate = aggregate  # how path_score folds step scores (the scorer's own choice)
        self.nodes: list[Node] = [Node(id=0, parent=None)]
        self.children: dict[int, list[int]] = defaultdict(list)
        self.chosen: Node | None = None
        self.budget = Budget()
        self.labels: dict[int, float] = {}  # node id → step label in [0, 1] (filled by a labeler)
        self.stream_salt = ""  # separates the sampling streams of another pass over the same problem
        self.stopped: str | None = None  # the limit that ended the search, once one has
        self.format_prompt: Callable[[str], str] = lambda prompt: prompt  # the expander's (engine sets it)
        self.head: str | None = None  # the formatted task prompt, once computed
        self._streams = 0

    def out_of_budget(self, limits: Limits | None) -> bool:
        """Has this tree's spent budget reached one of ``limits``? Records which in ``stopped``
        (it goes into the result: a search that ran out says so)."""
        hit = limits.reached(self.budget) if limits is not None else None
        if hit is not None:
            self.stopped = hit
        return hit is not None

    def stream_key(self) -> int:
        """The key of this tree's next sampling stream: (problem id, how many streams this tree
        drew before). A search's requests depend only on its own tree, so a problem's samples —
        and its whole tree — are the same whatever problems share the batch, the ``limit``, the
        ``batch_problems`` or a resume."""
        self._streams += 1
        return stable_int(f"{self.stream_salt}{self.problem.id}\x00{self._streams}")

    @classmethod
    def from_result(cls, result: SearchResult, task: Task, segmenter: Segmenter) -> "Tree":
        """A tree to grow further (labelling rollouts, say) from a searched one; node ids kept."""
        tree = cls(result.problem, task, segmenter)
        by_id = {n.id: n for n in result.nodes}
        if sorted(by_id) != list(range(len(by_id))):
            raise QstarError(f"tree of {result.problem.id}: node ids must be 0..{len(by_id) - 1}")
        tree.nodes = [dataclasses.replace(by_id[i], scores=dict(by_id[i].scores)) for i in range(len(by_id))]
        for n in tree.nodes[1:]:
            tree.children[n.parent].append(n.id)
        tree.stream_salt = "grow:"  # its rollouts draw other streams than the search that made it
        return tree

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def parent(self, node: Node) -> Node | None:
        return None if node.parent is None else self.nodes[node.parent]

    def kids(self, node: Node) -> list[Node]:
        return [self.nodes[i] for i in self.children[node.id]]

    def path(self, node: Node) -> list[Node]:
        out = []
        cur: Node | None = node
        while cur is not None:
            out.append(cur)
            cur = self.parent(cur)
        return out[::-1]

    def steps(self, node: Node) -> list[str]:
        return [n.step for n in self.path(node)[1:]]

    def prompt(self, node: Node) -> str:
        """The policy's input for the step after ``node``: the task's prompt as the model reads it
        (``head``, e.g. a chat template's user turn), then the steps so far."""
        if self.head is None:
            self.head = self.format_prompt(self.task.prompt(self.problem))
        return self.segmenter.join(self.head, self.steps(node))

    def path_logprob(self, node: Node) -> float:
        return sum(n.logprob for n in self.path(node))

    def path_score(self, node: Node, aggregate: str | None = None, scorer: str | None = None) -> float:
        """The path's step scores (by ``scorer``, default: each node's first) folded by
        ``aggregate`` (default: the scorer's own); 0 when unscored."""
        scores = [
            n.scores[scorer] if scorer else next(iter(n.scores.values()))
            for n in self.path(node)[1:]
            if (scorer in n.scores if scorer else n.scores)
        ]
        return AGGREGATES[aggregate or self.aggregate](scores) if scores else 0.0

    def add(self, parent: Node, step: str, num_tokens: int = 0, logprob: float = 0.0, ended: bool = False) -> Node:
        """Add a child step, rule-checked by the task (``valid``, ``terminal``, ``answer``);
        ``ended``: the model closed its answer with this step, so the path ends here too."""
        verdict = self.task.check_step(self.problem, self.steps(parent), step)
        node = Node(
            id=len(self.nodes),
            parent=parent.id,
            step=step,
            depth=parent.depth + 1,
            num_tokens=num_tokens,
            logprob=logprob,
            terminal=verdict.terminal or ended or parent.depth + 1 >= self.task.max_depth,
            answer=verdict.answer,
            valid=verdict.valid,
        )
        self.nodes.append(node)
        self.children[parent.id].append(node.id)
        return node

    def choose(self, node: Node | None) -> None:
        self.chosen = node

    def result(self, search: str) -> SearchResult:
        node = self.chosen
        answer = node.answer if node is not None else None
        correct = self.judge.is_correct(self.problem, answer)
        return SearchResult(
            problem=self.problem,
            nodes=self.nodes,
            answer=answer,
            path=[n.id for n in self.path(node)] if node is not None else [],
            correct=correct,
            budget=self.budget,
            search=search,
            stopped=self.stopped,
        )


def _takes_seeds(method) -> bool:
    try:
        return "seeds" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


class Engine:
    """Runs a search strategy over problems with one expander and one scorer."""

    def __init__(
        self,
        task: Task,
        segmenter: Segmenter,
        expander: Expander,
        scorer: Scorer | None,
        hook: Any = None,
        batch_problems: int = 16,
        setting: str = "auto",
    ):
        self.task, self.segmenter, self.expander, self.scorer = task, segmenter, expander, scorer
        self.hook = hook  # a pluggy ``pm.hook`` relay for observer hooks, or None
        self.batch_problems = max(1, batch_problems)
        derived = check_setting(setting, scorer)
        if derived == "learned" and setting == "auto" and not hasattr(task, "parse_step"):
            derived = "rules"  # a task that cannot parse without judging: its checks reach the search
        self.setting = derived
        # In the learned setting searches see a task that parses but never judges.
        self.search_task = BlindTask(task) if derived == "learned" else task
        self.aggregate = getattr(scorer, "aggregate", "min")

    # -- public ------------------------------------------------------------------------------
    def solve(self, search: Search, problem: Problem) -> SearchResult:
        return self.run(search, [problem])[0]

    def run(
        self,
        search: Search,
        problems: Sequence[Problem],
        on_result: Callable[[SearchResult], None] | None = None,
    ) -> list[SearchResult]:
        """Search every problem, ``batch_problems`` at a time in lock-step; results in input order."""
        trees = [Tree(p, self.search_task, self.segmenter, judge=self.task, aggregate=self.aggregate) for p in problems]
        return self._drive(search, self._format(trees), on_result)

    def _format(self, trees: list[Tree]) -> list[Tree]:
        fmt = getattr(self.expander, "format_prompt", None)  # e.g. a chat template (optional)
        if fmt is not None:
            for t in trees:
                t.format_prompt = fmt
        return trees

    def label(self, labeler: Any, results: Sequence[SearchResult], on_tree: Callable[[Tree], None] | None = None) -> list[Tree]:
        """Run ``labeler.run(tree)`` over copies of searched trees, their rollout requests batched
        across trees like a search's; returns the grown trees (``tree.labels`` filled)."""
        trees = self._format([Tree.from_result(r, self.task, self.segmenter) for r in results])
        by_problem = {t.problem.id: t for t in trees}
        finished = None if on_tree is None else (lambda result: on_tree(by_problem[result.problem.id]))
        self._drive(labeler, trees, finished, observe=False)
        return trees

    def _drive(self, search, trees, on_result, observe: bool = True) -> list[SearchResult]:
        """Run ``search.run`` over ``trees``, ``batch_problems`` at a time in lock-step;
        ``observe=False`` keeps ``qstar_on_search_end`` for real searches only."""
        results: dict[int, SearchResult] = {}
        queue = list(enumerate(trees))[::-1]
        active: dict[int, tuple[Tree, Any, Any]] = {}  # index → (tree, generator, pending request)
        end_hook = self.hook.qstar_on_search_end if self.hook is not None and observe else None

        def start():
            while queue and len(active) < self.batch_problems:
                i, tree = queue.pop()
                gen = search.run(tree)
                self._advance(i, tree, gen, None, active, results, search, on_result, end_hook, first=True)

        start()
        while active:
            pending = list(active.items())
            for kind in (Expand, Rollout, Score):
                batch = [(i, t, g, r) for i, (t, g, r) in pending if isinstance(r, kind)]
                if not batch:
                    continue
                answers = self._serve(kind, [(t, r) for _, t, _, r in batch])
                for (i, tree, gen, _), answer in zip(batch, answers):
                    self._advance(i, tree, gen, answer, active, results, search, on_result, end_hook)
                break  # one kind per round keeps every generator's request fresh
            start()
        return [results[i] for i in range(len(results))]

    # -- driving ----------------------------------------------------------------------------
    def _advance(self, i, tree, gen, answer, active, results, search, on_result, end_hook, first=False):
        try:
            request = next(gen) if first else gen.send(answer)
        except StopIteration:
            active.pop(i, None)
            result = tree.result(getattr(search, "name", type(search).__name__))
            results[i] = result
            if end_hook is not None:
                end_hook(result=result)
            if on_result is not None:
                on_result(result)
            return
        if not isinstance(request, (Expand, Rollout, Score)):
            raise TypeError(f"a search yielded {request!r}; expected Expand, Rollout or Score")
        active[i] = (tree, gen, request)

    def _serve(self, kind, batch: list[tuple[Tree, Any]]) -> list[Any]:
        t0 = time.perf_counter()
        if kind is Score:
            answers = self._score(batch)
        else:
            answers = self._generate(kind, batch)
        # Wall time is shared among the trees in proportion to the items each asked for.
        weights = [max(len(r.nodes) * getattr(r, "k", 1), 1) for _, r in batch]
        elapsed, total = time.perf_counter() - t0, sum(weights)
        for (tree, _), w in zip(batch, weights):
            tree.budget.wall_time += elapsed * w / total
        return answers

    def _generate(self, kind, batch):
        by_k: dict[int, list[int]] = defaultdict(list)
        for j, (_, r) in enumerate(batch):
            by_k[r.k].append(j)
        answers: list[Any] = [None] * len(batch)
        for k, idx in by_k.items():
            flat = [(j, node) for j in idx for node in batch[j][1].nodes]
            prompts = [batch[j][0].prompt(node) for j, node in flat]
            call = self.expander.expand if kind is Expand else self.expander.rollout
            if not prompts:
                proposals, stats = [], None
            elif _takes_seeds(call):
                proposals, stats = call(prompts, k, seeds=[batch[j][0].stream_key() for j, _ in flat])
            else:  # an expander without per-prompt streams: samples depend on the batch
                proposals, stats = call(prompts, k)
            out: dict[int, list[list[Node]]] = {j: [] for j in idx}
            for p, ((j, node), props) in enumerate(zip(flat, proposals)):
                tree = batch[j][0]
                tree.budget.expansions += 1
                tree.budget.prompt_tokens += stats.prompt_tokens[p]
                tree.budget.generated_tokens += sum(x.num_tokens for x in props)
                if kind is Expand:
                    out[j].append(self._add_steps(tree, node, props))
                else:
                    out[j].append([self._add_rollout(tree, node, x) for x in props])
            for j in idx:
                answers[j] = out[j]
                if kind is Expand and self.hook is not None:
                    tree, r = batch[j]
                    self.hook.qstar_on_expand(problems=[tree.problem] * len(r.nodes), nodes=r.nodes, children=out[j])
        return answers

    @staticmethod
    def _add_steps(tree: Tree, node: Node, proposals) -> list[Node]:
        """One child per distinct proposal: duplicate samples of the same step add no new state
        (Tree-of-Thoughts likewise de-duplicates proposals), so they are merged."""
        children, seen = [], set()
        for x in proposals:
            step = x.text.strip()
            if step in seen:
                continue
            seen.add(step)
            children.append(tree.add(node, step, x.num_tokens, x.logprob, getattr(x, "ended", False)))
        return children

    def _add_rollout(self, tree: Tree, node: Node, proposal) -> Node:
        """Add a whole completion as a chain of steps; returns its leaf. Tokens and log-prob are
        recorded on the leaf (a rollout is one sample, not per-step samples)."""
        cur = node
        steps = self.segmenter.split(proposal.text) or [""]
        for i, s in enumerate(steps):
            if cur.terminal:
                break
            cur = tree.add(cur, s, ended=getattr(proposal, "ended", False) and i == len(steps) - 1)
        cur.num_tokens, cur.logprob = proposal.num_tokens, proposal.logprob
        return cur

    def _score(self, batch) -> list[list[float]]:
        if self.scorer is None:
            raise QstarError("the search asks for step scores but no scorer is set: add scorer=<name> (e.g. scorer=verifier)")
        name = self.scorer.name
        # A step scored once in its path context keeps its score: it is never sent again.
        todo = list({id(n): (tree, n) for tree, r in batch for n in r.nodes if name not in n.scores}.values())
        calls = getattr(self.scorer, "calls_per_step", 1)
        for (tree, node), s in zip(todo, score_steps(self.scorer, todo)):
            node.scores[name] = s
            tree.budget.scorer_calls += calls  # an ensemble's members each score the step
        return [[node.scores[name] for node in r.nodes] for _, r in batch]
