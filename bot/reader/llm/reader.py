"""The optional LLM reader ([reader] kind = "llm"): an OpenAI-compatible chat model writes the
answer, checked.

It runs after an extractive reader (the rules or the learned one, bot/settings.py's
DEFAULT_READER), on the passages that reader's answer shows as sources (so the extractive
answer is always at hand): the passages and the question go to the endpoint
(bot/reader/llm/prompt.py), the reply's sentences are checked against the passages they cite
(bot/reader/llm/citation_check.py), and the ones that pass become the answer, with the same
Citation records the extractive reader makes. The extractive answer is given instead, with
the reason in `Answer.fallback`, when no passage is close enough to ask about, when no sentence
passes, or when the endpoint times out, refuses (HTTP 429, 5xx, ...), cannot be reached or
replies with something that is not a chat completion.

Time: `timeout_s` bounds the whole call: the wait for one of `max_concurrent` slots, the
connection, the wait for the reply and the reading of its body (an endpoint that trickles its
reply a byte at a time is cut off too). The request runs as a task on this reader's own event
loop (a daemon thread, so it never holds the process open) under `asyncio.timeout`: at the
deadline the task is cancelled, its connection closed and its slot freed, and the caller gets
the extractive answer at once. So the endpoint never sees more than `max_concurrent` calls at
once, and none outlives its deadline.

The API key is read from the environment variable named by `api_key_env`, given only to the
client, and scrubbed from every message this module logs or returns; it and any `sk-`-like
token are scrubbed from the model's reply before the check (which then drops the sentence that
held one), so an endpoint that echoes the key cannot get it shown.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import time
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import date

import openai
from openai.types.chat import ChatCompletion

from bot.reader.answer import NOT_FOUND, Answer, Citation, Retrieved
from bot.reader.base import Reader
from bot.reader.llm.citation_check import Sentence, check_reply, scrub_secrets
from bot.reader.llm.prompt import build_messages, is_decline
from bot.reader.passages import Passages
from bot.settings import LLMSettings
from index.errors import ConfigError

log = logging.getLogger("newsbot.llm")

NO_KEY = "no-key"  # what the client sends when no key is configured (local servers need none)
CLOSE_WAIT_S = 2.0  # close(): how long the calls still running get to be cancelled


class EndpointError(Exception):
    """The endpoint gave no usable reply; the message is one line, safe to log."""


class LLMReader:
    """Answers from an OpenAI-compatible chat-completions endpoint, after `extractive`;
    thread-safe."""

    name = "llm"

    def __init__(self, settings: LLMSettings, min_similarity: float, extractive: Reader) -> None:
        self.extractive = extractive
        self.settings = settings
        self.min_similarity = min_similarity
        key = None
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise ConfigError(
                    f"llm.api_key_env: the environment variable {settings.api_key_env}"
                    " is not set (it should hold the endpoint's API key)"
                )
        self._key = key
        # No retries: a retry after a 429 or a timeout would only spend the time the
        # extractive answer is waiting on.
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url, api_key=key or NO_KEY, timeout=settings.timeout_s,
            max_retries=0,
        )
        self._slots = threading.BoundedSemaphore(settings.max_concurrent)
        # The calls run on this loop; a daemon thread, so that nothing of a call keeps the
        # process alive after its answer (concurrent.futures' pool threads are joined at exit)
        self._loop = asyncio.new_event_loop()
        self._closed = False
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="newsbot-llm", daemon=True
        )
        self._thread.start()

    # -- answering --------------------------------------------------------------------------
    def answer(self, question: str, passages: Passages, day: date) -> Answer:
        """The extractive reader's answer, rewritten by the model (see `read`)."""
        return self.read(self.extractive.answer(question, passages, day))

    def read(self, extractive: Answer) -> Answer:
        """The LLM's checked answer to `extractive.question` from `extractive.retrieved`,
        else `extractive` itself with the reason in `fallback`."""
        started = time.perf_counter()
        passages = extractive.retrieved
        if not passages or max(p.score for p in passages) < self.min_similarity:
            return self._fallback(extractive, "no passage close enough to ask about", started)
        try:
            reply = self._complete(build_messages(extractive.question, passages), started)
        except EndpointError as exc:
            return self._fallback(extractive, str(exc), started)
        reply = scrub_secrets(reply, self._key)
        elapsed = (time.perf_counter() - started) * 1000
        if is_decline(reply):
            return dataclasses.replace(
                extractive, answer=NOT_FOUND, answered=False, citations=[], reader="llm",
                fallback=None, latency_ms=extractive.latency_ms + elapsed, short_answer=None,
            )
        result = check_reply(reply, [p.text for p in passages])
        for dropped in result.dropped:
            log.info("dropped a sentence of the model's answer: %s", self._scrub(dropped.reason))
        if not result.kept:
            reason = result.dropped[0].reason if result.dropped else "the reply was empty"
            return self._fallback(extractive, f"no sentence passed the check ({reason})", started)
        text, citations = compose(result.kept, passages)
        return dataclasses.replace(
            extractive, answer=text, answered=True, citations=citations, reader="llm",
            # the extractive reader's short answer belongs to its own lead, not this one
            fallback=None, latency_ms=extractive.latency_ms + elapsed, short_answer=None,
        )

    def _fallback(self, extractive: Answer, reason: str, started: float) -> Answer:
        reason = self._scrub(reason)
        log.warning("LLM reader: giving the extractive answer: %s", reason)
        elapsed = (time.perf_counter() - started) * 1000
        return dataclasses.replace(
            extractive, reader=extractive.reader, fallback=reason,
            latency_ms=extractive.latency_ms + elapsed,
        )

    # -- the call ---------------------------------------------------------------------------
    def _complete(self, messages: list[dict[str, str]], started: float) -> str:
        """The reply's text, within timeout_s of `started`, else EndpointError."""
        timeout = self.settings.timeout_s
        deadline = started + timeout
        if not self._slots.acquire(timeout=max(0.0, deadline - time.perf_counter())):
            raise EndpointError(
                f"all {self.settings.max_concurrent} LLM calls were busy for {timeout:g} s"
            )
        try:
            if self._closed:
                raise RuntimeError("closed")
            future = asyncio.run_coroutine_threadsafe(self._call(messages, deadline), self._loop)
        except RuntimeError:  # the loop is closed: the engine is closing
            self._slots.release()
            raise EndpointError("the LLM reader is closed") from None
        future.add_done_callback(lambda _: self._slots.release())
        try:
            # the task ends itself at the deadline; the margin lets its cancellation finish
            return future.result(timeout=max(0.0, deadline - time.perf_counter()) + 1.0)
        except FutureTimeout:
            future.cancel()
            raise EndpointError(f"no reply within {timeout:g} s") from None
        except FutureCancelled:  # close() cancelled it
            raise EndpointError("the LLM reader is closed") from None

    async def _call(self, messages: list[dict[str, str]], deadline: float) -> str:
        s = self.settings
        try:
            # asyncio.timeout covers what the client's own timeout does not: a body that
            # arrives a byte at a time, each byte within the client's read timeout
            async with asyncio.timeout(max(0.0, deadline - time.perf_counter())):
                completion = await self._client.chat.completions.create(
                    model=s.model, messages=messages,  # type: ignore[arg-type]
                    max_tokens=s.max_tokens, temperature=s.temperature,
                )
        except (TimeoutError, openai.APITimeoutError):
            raise EndpointError(f"no reply within {s.timeout_s:g} s") from None
        except openai.RateLimitError:
            raise EndpointError("the endpoint is rate-limiting (HTTP 429)") from None
        except openai.APIStatusError as exc:
            raise EndpointError(f"the endpoint answered HTTP {exc.status_code}") from None
        except openai.APIConnectionError:
            raise EndpointError(f"cannot reach the endpoint at {s.base_url}") from None
        except (openai.APIError, ValueError, TypeError, KeyError, AttributeError):
            # APIResponseValidationError, or a body the client could not parse as JSON
            raise EndpointError("the endpoint's reply is not a chat completion") from None
        content = _content(completion)
        if content is None:
            raise EndpointError("the endpoint's reply is not a chat completion")
        return content

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def close(self) -> None:
        """Cancel the calls still running (their callers get the extractive answer), close
        the client and stop the loop."""
        if self._closed:
            return
        self._closed = True

        async def shut() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._client.close()

        try:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(CLOSE_WAIT_S)
        except (FutureTimeout, RuntimeError, OSError) as exc:
            log.warning("LLM reader: closing took too long: %s", type(exc).__name__)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CLOSE_WAIT_S)
        if not self._thread.is_alive():
            self._loop.close()
        self.extractive.close()


def _content(completion: object) -> str | None:
    """The first choice's text, or None when `completion` is not a usable chat completion."""
    if not isinstance(completion, ChatCompletion) or not completion.choices:
        return None
    message = completion.choices[0].message
    content = getattr(message, "content", None)
    return content if isinstance(content, str) and content.strip() else None


def compose(kept: list[Sentence], passages: list[Retrieved]) -> tuple[str, list[Citation]]:
    """The answer text and its citations, numbered like the extractive reader's: one number
    per article, in the order the answer cites them, then the other articles shown. A cited
    article's quote is the passages of it that the answer cites (joined by " … " when several),
    an uncited one's its first passage shown."""
    numbers: dict[str, int] = {}
    first: dict[str, Retrieved] = {}
    quoted: dict[str, list[str]] = {}

    def number(passage: Retrieved) -> int:
        if passage.article_id not in numbers:
            numbers[passage.article_id] = len(numbers) + 1
            first[passage.article_id] = passage
        return numbers[passage.article_id]

    parts = []
    for sentence in kept:
        marks: dict[int, None] = {}
        for n in sentence.cites:
            passage = passages[n - 1]
            marks[number(passage)] = None
            texts = quoted.setdefault(passage.article_id, [])
            if passage.text not in texts:
                texts.append(passage.text)
        parts.append(sentence.text + " " + "".join(f"[{n}]" for n in marks))
    for passage in passages:
        number(passage)
    citations = [
        Citation(
            n=numbers[article_id], title=p.title, source=p.source, published=p.published,
            url=p.url, quote=" … ".join(quoted.get(article_id) or [p.text]),
            article_id=article_id,
        )
        for article_id, p in first.items()
    ]
    return " ".join(parts), citations
