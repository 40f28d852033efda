"""Models behind an OpenAI-compatible server (``vllm serve``, SGLang, llama.cpp's server, TGI …).

One client serves every component that talks to a served model: the ``openai`` expander, and the
``propose`` expander and ``llm-value`` scorer when they are given a ``base_url``. It uses the
``openai`` package (its retries with exponential backoff on 429/5xx and connection errors, and its
timeouts) through ``AsyncOpenAI``: the requests of one batch go out concurrently, at most
``concurrency`` at a time, and come back in order.

A request is one prompt with ``n`` samples, a per-request ``seed`` (a server that honours seeds —
vLLM does — then samples a prompt's steps independently of the batch it came in), the step
delimiter as ``stop`` and token log-probabilities. A :class:`ChatTurn` prompt goes to the chat
endpoint (the server applies the model's chat template); a plain string to the completions
endpoint, as written.

What a request costs (see the budget in ``docs/concepts.md``): the generated tokens and the prompt
tokens of the response's ``usage``, less the prompt tokens the server reports as cached
(``usage.prompt_tokens_details.cached_tokens``; vLLM reports them with
``--enable-prompt-tokens-details``). The API key is read from the environment variable the config
names (``api_key_env``), never from a config file: run directories hold the variable's name only.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

from qstar.errors import QstarError
from qstar.seeding import stable_int

UNSAID = "unsaid"  # Choice.stop_reason of a server that does not report one (only vLLM does)

__all__ = ["UNSAID", "ChatTurn", "Choice", "Completion", "ServedClient", "ServedConfig", "ServedFields", "request_seed"]


def request_seed(seed: int, key: int) -> int:
    """A request's 31-bit seed from the expander's seed and the prompt's stream key. ``vllm`` and
    ``openai`` derive it alike, so a served vLLM gets the seeds the in-process engine gets."""
    return stable_int(f"vllm/{seed}/{key}") % (2**31 - 1)


class ChatTurn(str):
    """A prompt to send as one user turn of the chat endpoint (the server applies its template)."""


@dataclass
class ServedConfig:
    """Where the served model is and how to talk to it (the fields every served component shares)."""

    base_url: str = "http://127.0.0.1:8000/v1"  # the server's OpenAI-compatible root
    model: str = ""  # the served model's name ("" = the one model the server serves)
    api_key_env: str | None = None  # environment variable holding the API key (None: a server without keys)
    concurrency: int = 16  # requests in flight at once
    timeout: float = 120.0  # seconds a request may take
    max_retries: int = 3  # retries (exponential backoff) on connection errors, 408/409/429 and 5xx

    def check(self, prefix: str) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise QstarError(f"{prefix}.base_url={self.base_url!r}: give the server's URL, e.g. http://127.0.0.1:8000/v1")
        if self.concurrency < 1:
            raise QstarError(f"{prefix}.concurrency={self.concurrency}: must be at least 1")
        if not self.timeout > 0:
            raise QstarError(f"{prefix}.timeout={self.timeout}: must be a positive number of seconds")
        if self.max_retries < 0:
            raise QstarError(f"{prefix}.max_retries={self.max_retries}: use 0 (no retries) or more")
        if self.api_key_env is not None and not os.environ.get(self.api_key_env):
            raise QstarError(
                f"{prefix}.api_key_env={self.api_key_env}: the environment variable {self.api_key_env} is not set: "
                f"export {self.api_key_env}=<key>, or {prefix}.api_key_env=null for a server without keys"
            )


@dataclass
class ServedFields:
    """Where a component's served model is (``base_url=None``: the component runs its local checkpoint)."""

    base_url: Optional[str] = None  # an OpenAI-compatible server's root, e.g. http://127.0.0.1:8000/v1
    served_model: str = ""  # the served model's name ("" = the one model the server serves)
    api_key_env: Optional[str] = None  # environment variable holding the API key (None: a server without keys)
    concurrency: int = 16  # requests in flight at once
    timeout: float = 120.0  # seconds a request may take
    max_retries: int = 3  # retries with backoff on connection errors, 429 and 5xx

    def served(self, prefix: str):
        """This component's :class:`ServedConfig` and its option prefix (``scorer``, ``expander``)."""
        served = ServedConfig(
            base_url=self.base_url,
            model=self.served_model,
            api_key_env=self.api_key_env,
            concurrency=self.concurrency,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )
        return served, prefix


@dataclass
class Choice:
    text: str  # without the stop string
    num_tokens: int  # generated tokens (a stop token included)
    logprob: float  # sum of the sampled tokens' log-probabilities (0.0 when the server gave none)
    finish_reason: str  # "stop" or "length"
    stop_reason: object = None  # vLLM: the stop string or token that ended it, None at end-of-sequence; UNSAID: the server does not say


@dataclass
class Completion:
    choices: list[Choice] = field(default_factory=list)
    generated_tokens: int = 0  # usage.completion_tokens
    prompt_tokens: int = 0  # usage.prompt_tokens less the cached ones (what the server computed)
    cached_tokens: int = 0


class ServedClient:
    """A connection to one served model. Construction asks the server which models it serves (a
    server that is down, or a model it does not serve, is one line naming the URL)."""

    def __init__(self, cfg: ServedConfig, prefix: str = "expander"):
        cfg.check(prefix)
        try:
            import openai
        except ImportError:  # pragma: no cover - a dependency of qstar
            raise QstarError("served models need the openai package: pip install openai") from None
        self.cfg, self.prefix, self.openai, self.model = cfg, prefix, openai, cfg.model
        self.api_key = os.environ[cfg.api_key_env] if cfg.api_key_env else "EMPTY"
        self.loop = asyncio.new_event_loop()  # one loop for the client's life: its connections stay open
        self.client = openai.AsyncOpenAI(base_url=cfg.base_url, api_key=self.api_key, timeout=cfg.timeout, max_retries=cfg.max_retries)
        served = self._run(self._models())
        names = [m.id for m in served]
        if not cfg.model:
            if len(names) != 1:
                raise QstarError(
                    f"the server at {cfg.base_url} serves {len(names)} models ({', '.join(names) or 'none'}): name one with {prefix}.model=<name>"
                )
            self.model = names[0]
        elif cfg.model not in names:
            raise QstarError(
                f"the server at {cfg.base_url} does not serve model {cfg.model!r} (it serves: {', '.join(names) or 'none'}): "
                f"set {prefix}.model to one of them"
            )
        else:
            self.model = cfg.model
        card = next(m for m in served if m.id == self.model)
        self.max_model_len = (card.model_extra or {}).get("max_model_len")  # vLLM says; others may not

    # -- requests ---------------------------------------------------------------------------
    def complete(
        self,
        prompts: Sequence[str],
        *,
        n: int,
        max_tokens: int,
        temperature: float,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        seeds: Sequence[int | None] | None = None,
    ) -> list[Completion]:
        """One request per prompt (``n`` samples each), concurrently; results in prompt order."""
        seeds = list(seeds) if seeds is not None else [None] * len(prompts)
        if self.max_model_len:  # vLLM refuses more than the context; it shortens what the prompt leaves itself
            max_tokens = min(max_tokens, self.max_model_len)
        return self._run(self._gather(list(prompts), n, max_tokens, temperature, top_p, list(stop or []), seeds))

    def token_scores(self, inputs: Sequence[Sequence[int]]) -> list[list[list[float]]]:
        """Every token's raw head outputs (no activation) for each token-id input, from vLLM's
        pooling endpoint (``/pooling``, task ``token_classify``): what a served reward model says
        at each position. One request per input, concurrently."""
        root = self.cfg.base_url.rstrip("/").removesuffix("/v1")
        return self._run(self._gather_pool(f"{root}/pooling", [list(x) for x in inputs]))

    async def _gather_pool(self, url, inputs):
        gate = asyncio.Semaphore(self.cfg.concurrency)

        async def one(ids):
            async with gate:
                body = {"model": self.model, "input": ids, "task": "token_classify", "use_activation": False}
                resp = await self.client.post(url, cast_to=object, body=body)
                return resp["data"][0]["data"]

        return await asyncio.gather(*(one(x) for x in inputs))

    def close(self) -> None:
        if not self.loop.is_closed():
            self._run(self.client.close())
            self.loop.close()

    # -- implementation ---------------------------------------------------------------------
    def _run(self, coro):
        try:
            return self.loop.run_until_complete(coro)
        except self.openai.APIError as e:
            raise self._error(e) from None

    async def _models(self):
        return [m async for m in self.client.models.list()]

    async def _gather(self, prompts, n, max_tokens, temperature, top_p, stop, seeds):
        gate = asyncio.Semaphore(self.cfg.concurrency)

        async def one(prompt, seed):
            async with gate:
                return await self._request(prompt, n, max_tokens, temperature, top_p, stop, seed)

        return await asyncio.gather(*(one(p, s) for p, s in zip(prompts, seeds)))

    async def _request(self, prompt, n, max_tokens, temperature, top_p, stop, seed) -> Completion:
        common = dict(model=self.model, n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)
        if stop:
            common["stop"] = stop
        if isinstance(prompt, ChatTurn):
            resp = await self.client.chat.completions.create(messages=[{"role": "user", "content": str(prompt)}], logprobs=True, **common)
            choices = [
                Choice(
                    text=c.message.content or "",
                    num_tokens=len(c.logprobs.content) if c.logprobs and c.logprobs.content else 0,
                    logprob=sum(t.logprob for t in c.logprobs.content) if c.logprobs and c.logprobs.content else 0.0,
                    finish_reason=c.finish_reason,
                    stop_reason=(c.model_extra or {}).get("stop_reason", UNSAID),
                )
                for c in resp.choices
            ]
        else:
            resp = await self.client.completions.create(prompt=str(prompt), logprobs=0, **common)
            choices = [
                Choice(
                    text=c.text,
                    num_tokens=len(c.logprobs.tokens) if c.logprobs and c.logprobs.tokens else 0,
                    logprob=float(sum(x for x in (c.logprobs.token_logprobs or []) if x is not None)) if c.logprobs else 0.0,
                    finish_reason=c.finish_reason,
                    stop_reason=(c.model_extra or {}).get("stop_reason", UNSAID),
                )
                for c in resp.choices
            ]
        usage = resp.usage
        generated = usage.completion_tokens if usage else sum(c.num_tokens for c in choices)
        if usage and not all(c.num_tokens for c in choices if c.text):  # no log-probs: share usage out evenly
            for c in choices:
                c.num_tokens = generated // max(len(choices), 1)
        details = usage.prompt_tokens_details if usage else None  # the openai package's CompletionUsage
        cached = (details.cached_tokens or 0) if details else 0
        prompt_tokens = usage.prompt_tokens if usage else 0
        return Completion(choices=choices, generated_tokens=generated, prompt_tokens=max(prompt_tokens - cached, 0), cached_tokens=cached)

    def _error(self, e) -> QstarError:
        """The openai package's error as one line naming the server and the fix."""
        o, url = self.openai, self.cfg.base_url
        first = (str(e.message or e).splitlines() or [type(e).__name__])[0]  # every openai.APIError has .message
        if isinstance(e, o.APITimeoutError):
            return QstarError(
                f"the server at {url} did not answer within {self.cfg.timeout:g} s: raise {self.prefix}.timeout, or check the server"
            )
        if isinstance(e, o.APIConnectionError):
            return QstarError(
                f"cannot reach the server at {url} ({first}): start it (e.g. python -m vllm.entrypoints.openai.api_server --model <dir>) "
                f"or fix {self.prefix}.base_url; a rerun resumes"
            )
        if isinstance(e, (o.AuthenticationError, o.PermissionDeniedError)):
            return QstarError(
                f"the server at {url} refused the API key ({first}): set {self.prefix}.api_key_env to the variable holding the key"
            )
        if isinstance(e, o.NotFoundError):
            return QstarError(
                f"the server at {url} answered 404 for model {self.model!r} ({first}): check {self.prefix}.base_url and .model"
            )
        if isinstance(e, o.APIStatusError):
            return QstarError(f"the server at {url} refused a request ({e.status_code}: {first}): check the {self.prefix} settings")
        return QstarError(f"the server at {url} failed ({type(e).__name__}: {first})")
