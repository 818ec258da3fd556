"""The in-process backend: a Hugging Face causal LM sampled inside the job (the default, offline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from training.jobs import common
from training.jobs.backends.base import Messages, OnBatch, Sample, SamplingParams


class TransformersBackend:
    """Load `model_path` once (safetensors only) and sample batch_size prompts per generate() call."""

    name = "transformers"

    def __init__(self, model_path: str, *, batch_size: int, device: str | None = None) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self.device = device or common.pick_device().device
        self._model: Any = None
        self._tokenizer: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = common.load_causal_lm(self.model_path).to(self.device).eval()
        return self._model

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = common.load_tokenizer(self.model_path)
            if not self._tokenizer.chat_template:
                raise common.JobError(f"{self.model_path}: the tokenizer has no chat template, so chat prompts cannot be rendered")
        return self._tokenizer

    def generate(self, prompts: Sequence[Messages], *, k: int, params: SamplingParams,
                 on_batch: OnBatch | None = None) -> list[list[Sample]]:
        from training.jobs.sampling import sample_all

        tokenizer = self.tokenizer  # before the model: a tokenizer without a chat template fails fast
        return sample_all(self.model, tokenizer, prompts, k=k, params=params, device=self.device,
                          batch_size=self.batch_size, on_batch=on_batch)
