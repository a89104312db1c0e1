"""The teacher that turns a human comment into a structured review.

`OllamaTeacher` asks a local or remote Ollama server (JSON-schema structured output). When the
server does not answer and the teacher is not required (the local profile), rows are structured
deterministically from the human comment and the asset says `teacher: none`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor

import dagster as dg

from review_slm.core.gold import Candidate
from review_slm.core.prompts import parse_review, teacher_messages
from review_slm.core.schema import Review, ReviewRecord
from review_slm.core.structuring import structure_human_comment

log = logging.getLogger(__name__)


class Teacher(dg.ConfigurableResource, ABC):
    @abstractmethod
    def enrich(self, records: list[ReviewRecord]) -> tuple[str, list[Candidate]]:
        """Returns (teacher name, one candidate per record, in order)."""


class HumanCommentTeacher(Teacher):
    """No model: the human comment itself, structured by rules (see core/structuring.py)."""

    def enrich(self, records: list[ReviewRecord]) -> tuple[str, list[Candidate]]:
        return "none", [Candidate(r, structure_human_comment(r), "none") for r in records]


class OllamaTeacher(Teacher):
    host: str = "http://127.0.0.1:11434"
    model: str = "qwen2.5-coder:7b-instruct"
    required: bool = False
    timeout_s: float = 120.0
    concurrency: int = 4

    def _client(self, timeout: float):
        import ollama

        return ollama.Client(host=self.host, timeout=timeout)

    def available(self) -> bool:
        try:
            self._client(timeout=3.0).show(self.model)
            return True
        except Exception as err:  # connection refused, timeout, model not pulled: all mean "no teacher"
            log.info("teacher %s at %s not available: %s", self.model, self.host, err)
            return False

    def _review(self, record: ReviewRecord) -> Candidate:
        client = self._client(self.timeout_s)
        messages = teacher_messages(record)
        error = ""
        for _attempt in range(2):  # one retry, telling the model what was wrong
            response = client.chat(
                model=self.model, messages=messages, format=Review.model_json_schema(), options={"temperature": 0}
            )
            text = response.message.content or ""
            review, error = parse_review(text)
            if review is not None:
                return Candidate(record, review, self.model)
            messages = [*messages, {"role": "assistant", "content": text},
                        {"role": "user", "content": f"That answer is invalid ({error}). Answer again with valid JSON only."}]
        return Candidate(record, None, self.model, error=f"teacher answer invalid twice: {error}")

    def enrich(self, records: list[ReviewRecord]) -> tuple[str, list[Candidate]]:
        if not self.available():
            if self.required:
                raise RuntimeError(f"teacher {self.model} at {self.host} does not answer and is required")
            return HumanCommentTeacher().enrich(records)

        def safe(record: ReviewRecord) -> Candidate:
            try:
                return self._review(record)
            except Exception as err:  # a timeout or HTTP error on one row must not lose the others
                return Candidate(record, None, self.model, error=f"teacher call failed: {err}")

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return self.model, list(pool.map(safe, records))
