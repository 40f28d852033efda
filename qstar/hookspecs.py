"""Hook specifications: the contract between qstar and its plugins.

A plugin is any module or object with functions marked ``@qstar.hookimpl`` whose names match the
specs below; a pip package exposes it through the ``qstar`` entry-point group::

    [project.entry-points.qstar]
    my_search = "my_package"
"""

from __future__ import annotations

from qstar import hookspec

# --------------------------------------------------------------------------------------------
# Registration hooks: each receives ``register(name, factory, config_schema=None)``.
# ``factory(cfg)`` builds the component from its validated config; ``config_schema`` is a
# dataclass whose fields are the component's options (a misspelled key is an error).
# --------------------------------------------------------------------------------------------


@hookspec
def qstar_register_tasks(register):
    """Register tasks: problems and splits, prompt format, step rules, answer check, gold data.

    :param register: ``register(name, factory, config_schema)``; the factory returns an object
        satisfying :class:`qstar.protocols.Task`.

    Example::

        @qstar.hookimpl
        def qstar_register_tasks(register):
            register("countdown", CountdownTask, CountdownConfig)
    """


@hookspec
def qstar_register_segmenters(register):
    """Register segmenters, which split completions into steps and join steps into prompts.

    :param register: ``register(name, factory, config_schema)``; the factory returns a
        :class:`qstar.protocols.Segmenter`.

    Example::

        register("double-newline", DoubleNewline, DoubleNewlineConfig)
    """


@hookspec
def qstar_register_expanders(register):
    """Register expanders (policies) that propose ``k`` next steps for a batch of prompts.

    :param register: ``register(name, factory, config_schema)``; the factory is called as
        ``factory(cfg, model_cfg, segmenter)`` and returns a :class:`qstar.protocols.Expander`.

    Example::

        register("hf", HFExpander, HFExpanderConfig)
    """


@hookspec
def qstar_register_scorers(register):
    """Register scorers that score steps (process rewards) or whole paths (outcome rewards).

    :param register: ``register(name, factory, config_schema)``; the factory is called as
        ``factory(cfg, task)`` and returns a :class:`qstar.protocols.Scorer`.

    Example::

        register("verifier", RuleVerifier, VerifierConfig)
    """


@hookspec
def qstar_register_searches(register):
    """Register search strategies that grow a tree under a budget and choose an answer.

    :param register: ``register(name, factory, config_schema)``; the factory returns a
        :class:`qstar.protocols.Search` whose ``run(tree)`` generator yields requests.

    Example::

        register("tot-bfs", TotBFS, TotBFSConfig)
    """


@hookspec
def qstar_register_optimizers(register):
    """Register optimizers that train models with Lightning from task data or searched trees.

    :param register: ``register(name, factory, config_schema)``; the factory returns an object
        with ``fit(ctx: qstar.training.TrainContext) -> Path`` (the exported model directory).

    Example::

        register("sft", SFTOptimizer, SFTConfig)
    """


@hookspec
def qstar_register_labelers(register):
    """Register labelers, which turn searched trees into step labels (process supervision).

    :param register: ``register(name, factory, config_schema)``; the factory is called as
        ``factory(cfg, task)`` and returns an object whose ``run(tree)`` generator may yield
        :class:`~qstar.protocols.Rollout` requests and fills ``tree.labels`` (node id → label in
        [0, 1]) for every step of the tree.

    Example::

        register("mc-rollout", MCRolloutLabeler, MCRolloutConfig)
    """


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


@hookspec
def qstar_register_commands(register):
    """Register ``qstar <name>`` commands (the built-in ones register here too).

    :param register: ``register(name, function, schema=None, help="")``. ``function(cfg,
        registry)`` does the work on the composed config (a :class:`~qstar.plugins.Registry` is
        passed in, built once per command). ``schema`` is the command's config dataclass, stored in
        Hydra's ConfigStore as ``<name>_schema``; the command's YAML, ``<name>.yaml`` in the
        plugin's config package (see :func:`qstar_config_searchpath`), lists it first in its
        defaults. ``help`` is the line ``qstar --help`` shows. ``--help``, ``--cfg job`` and ``-m``
        work as for every command; a :class:`~qstar.errors.QstarError` raised by ``function``
        becomes a one-line error with exit status 2.

    Example::

        @qstar.hookimpl
        def qstar_register_commands(register):
            register("stats", stats, StatsConfig, help="count the problems of a split")
    """


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@hookspec
def qstar_config_searchpath():
    """Return a Hydra search path (``"pkg://my_package.conf"``) whose groups join qstar's.

    A package that ships ``my_package/conf/search/my-search.yaml`` makes
    ``qstar solve search=my-search`` work. Return ``None`` to add nothing.

    Example::

        @qstar.hookimpl
        def qstar_config_searchpath():
            return "pkg://my_package.conf"
    """


# --------------------------------------------------------------------------------------------
# Observers: called by the engine; return values are ignored.
# --------------------------------------------------------------------------------------------


@hookspec
def qstar_on_expand(problems, nodes, children):
    """Called after every batched expansion.

    :param problems: the :class:`~qstar.tree.Problem` of each expanded node.
    :param nodes: the expanded :class:`~qstar.tree.Node` objects.
    :param children: ``list[list[Node]]``, the new children of each node.

    Example::

        @qstar.hookimpl
        def qstar_on_expand(problems, nodes, children):
            print(sum(map(len, children)), "new steps")
    """


@hookspec
def qstar_on_search_end(result):
    """Called once per problem when its search has finished.

    :param result: the :class:`~qstar.tree.SearchResult`, budget included.

    Example::

        @qstar.hookimpl
        def qstar_on_search_end(result):
            print(result.problem.id, result.correct)
    """
