"""``qstar view trees.jsonl``: one self-contained HTML file to look at searched trees.

Everything the page needs is inside it — the trees as JSON in a ``<script type="application/json">``
element, the styles and a small script — so it opens from disk with no network, no CDN and no
server, and nothing about the trees leaves the machine. The page shows, per problem (a picker when
there are many; ``#<index>`` in the URL opens that one): the question, the chosen answer and
whether it is right, the search, the budget spent and the limit that stopped it, and the tree as
nested expandable ``<details>`` elements — each step's text, its scores, MCTS visits and value,
validity, finished paths — with the chosen path open and highlighted.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from qstar.tree import SearchResult, atomic_write_text

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
header { margin-bottom: 1em; }
select { font-size: 1em; }
.meta { color: #555; margin: .3em 0; }
.ok { color: #137333; font-weight: 600; }
.bad { color: #b3261e; font-weight: 600; }
details { margin-left: 1.4em; border-left: 1px solid #ddd; padding-left: .5em; }
summary { cursor: pointer; white-space: nowrap; }
.step { font-family: ui-monospace, monospace; }
.chosen > summary .step { background: #d7f5dd; font-weight: 600; }
.invalid > summary .step { color: #999; text-decoration: line-through; }
.terminal > summary::after { content: " ■"; color: #777; }
.num { color: #555; font-size: .85em; margin-left: .6em; }
.leaf { list-style: none; }
.leaf > summary { list-style: none; }
.leaf > summary::-webkit-details-marker { display: none; }
</style>
</head>
<body>
<header>
<label>problem <select id="picker"></select></label>
<span id="count" class="meta"></span>
<h2 id="question"></h2>
<div id="answer" class="meta"></div>
<div id="budget" class="meta"></div>
</header>
<main id="tree"></main>
<script type="application/json" id="trees">__DATA__</script>
<script>
"use strict";
const trees = JSON.parse(document.getElementById("trees").textContent);
const picker = document.getElementById("picker");
trees.forEach((t, i) => {
  const o = document.createElement("option");
  o.value = i;
  o.textContent = `${i + 1}. ${t.problem.question}` + (t.correct ? " ✓" : t.answer ? " ✗" : " –");
  picker.appendChild(o);
});
document.getElementById("count").textContent = `${trees.length} tree(s)`;
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function fmt(x) { return Number.isInteger(x) ? String(x) : x.toFixed(3); }
function show(i) {
  const t = trees[i];
  picker.value = i;
  document.getElementById("question").textContent = t.problem.question;
  const a = document.getElementById("answer");
  a.textContent = "";
  a.appendChild(el("span", "", "answer: "));
  a.appendChild(el("span", t.correct ? "ok" : "bad", t.answer === null ? "(no answer)" : t.answer));
  a.appendChild(el("span", "", t.correct ? "  (correct)" : t.answer === null ? "" : "  (wrong)"));
  const b = t.budget;
  document.getElementById("budget").textContent =
    `${t.search}: ${b.expansions} expansions, ${b.generated_tokens} generated tokens, ${b.prompt_tokens} prompt tokens, ` +
    `${b.scorer_calls} scorer calls, ${b.wall_time.toFixed(2)} s, ${t.nodes.length} nodes` +
    (t.stopped ? ` — stopped at its ${t.stopped} limit` : "");
  const kids = new Map();
  t.nodes.forEach(n => { if (n.parent !== null) { if (!kids.has(n.parent)) kids.set(n.parent, []); kids.get(n.parent).push(n); } });
  const chosen = new Set(t.path);
  function node(n) {
    const d = el("details", "node");
    d.dataset.id = n.id;
    const children = kids.get(n.id) || [];
    if (!children.length) d.classList.add("leaf");
    if (chosen.has(n.id)) { d.classList.add("chosen"); d.open = true; }
    if (!n.valid) d.classList.add("invalid");
    if (n.terminal) d.classList.add("terminal");
    const s = el("summary");
    s.appendChild(el("span", "step", n.parent === null ? t.problem.question : n.step));
    const nums = Object.entries(n.scores).map(([k, v]) => `${k}=${fmt(v)}`);
    if (n.visits) nums.push(`visits=${n.visits}`, `value=${fmt(n.value)}`);
    if (n.parent !== null) nums.push(`logp=${fmt(n.logprob)}`);
    if (children.length) nums.push(`${children.length} children`);
    s.appendChild(el("span", "num", nums.join("  ")));
    d.appendChild(s);
    // children are built when first opened, so trees of thousands of nodes stay quick
    let built = false;
    const build = () => { if (!built) { built = true; children.forEach(c => d.appendChild(node(c))); } };
    if (d.open) build();
    d.addEventListener("toggle", build);
    return d;
  }
  const main = document.getElementById("tree");
  main.textContent = "";
  const root = t.nodes.find(n => n.parent === null);
  const top = node(root);
  top.open = true;
  top.dispatchEvent(new Event("toggle"));
  main.appendChild(top);
}
picker.addEventListener("change", () => { location.hash = picker.value; });
window.addEventListener("hashchange", () => show(Number(location.hash.slice(1)) || 0));
const start = Number(location.hash.slice(1));
show(Number.isInteger(start) && start >= 0 && start < trees.length ? start : 0);
</script>
</body>
</html>
"""


def render(results: list[SearchResult], title: str = "qstar trees") -> str:
    """The page for ``results``: self-contained HTML (no external resource of any kind)."""
    data = json.dumps([r.to_dict() for r in results], ensure_ascii=False)
    data = data.replace("<", "\\u003c")  # no "</script>" (or any tag) can end the data element early
    return PAGE.replace("__TITLE__", html.escape(title)).replace("__DATA__", data)


def write(results: list[SearchResult], out: str | Path, title: str = "qstar trees") -> Path:
    out = Path(out)
    atomic_write_text(out, render(results, title))
    return out
