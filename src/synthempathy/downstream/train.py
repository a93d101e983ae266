"""LoRA fine-tuning of the base model on the corpus: explanation in, response out.

Each example is prompts/downstream.txt filled with the explanation (the user turn, the very text
the models answer at generation time) followed by the response and the end-of-sequence token; the
loss covers the response tokens only. transformers' Trainer runs the loop (seeded data order,
linear decay, fp32 on a CPU, bf16 on a GPU); `ResponseLossTrainer` computes the output layer at
response positions only, since Gemma's 262k-token output layer dominates a small model's cost and
the prompt positions' logits would be thrown away.

Deterministic on a CPU: the same params, seed and thread count give the same adapter bytes.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthempathy.core.errors import UserError
from synthempathy.core.jsonl import write_json
from synthempathy.core.params import DownstreamParams
from synthempathy.downstream.base_model import resolve_device
from synthempathy.generation.prompts import Template

IGNORE = -100
"""Label of a position the loss skips (the prompt, padding)."""


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]


@dataclass(frozen=True)
class Trained:
    losses: list[float]
    """Training loss per optimizer step."""
    examples: int
    cut: int
    """Examples whose response was cut at downstream.train.max_length."""
    response_tokens: int
    seconds: float


def encode(tokenizer: Any, template: Template, explanation: str, response: str, max_length: int) -> Example | None:
    """One training example: the prompt (labels ignored) then the response and EOS, cut at max_length;
    None when the prompt alone leaves no room for a response token."""
    prompt = tokenizer(template.render(explanation=explanation).text, add_special_tokens=True)["input_ids"]
    answer = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    room = max_length - len(prompt)
    if room <= 0:
        return None
    answer = answer[:room]
    return Example(input_ids=prompt + answer, labels=[IGNORE] * len(prompt) + answer)


def collate(examples: Sequence[Example], pad_id: int) -> dict:
    """Right-padded tensors; padding is masked out of attention and loss."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = [e.input_ids + [pad_id] * (width - len(e.input_ids)) for e in examples]
    labels = [e.labels + [IGNORE] * (width - len(e.labels)) for e in examples]
    mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in examples]
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


def response_loss(model: Any, inputs: dict) -> Any:
    """Mean next-token cross-entropy over response tokens, with logits computed only where a label is."""
    import torch

    labels = inputs["labels"][:, 1:]
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
    where = labels != IGNORE
    logits = base.lm_head(hidden[:, :-1][where]).float()
    cap = getattr(base.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits, labels[where])


def _loss_bar():
    from tqdm import tqdm
    from transformers import TrainerCallback

    class LossBar(TrainerCallback):
        """One progress bar over optimizer steps, showing the latest loss."""

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, desc="train", unit="step", dynamic_ncols=True, file=sys.stderr)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}", refresh=False)

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(state.global_step - self.bar.n)

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()

    return LossBar()


def train_lora(base_dir: Path, pairs: Sequence[tuple[str, str]], template: Template, params: DownstreamParams,
               out: Path, base_name: str | None = None) -> Trained:
    """Train a LoRA on (explanation, response) pairs and save it with peft into `out`; adapter_config.json
    names the base `base_name` (not peft's path to it) and lists target_modules sorted (peft keeps a set,
    whose order changes between processes), so the same training writes the same bytes anywhere."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    device = resolve_device(params.device)
    train = params.train
    if train.threads:
        torch.set_num_threads(train.threads)
    set_seed(params.seed)
    if device == "cpu":
        torch.use_deterministic_algorithms(True)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    encoded = [encode(tokenizer, template, e, r, train.max_length) for e, r in pairs]
    examples = [e for e in encoded if e is not None]
    if not examples:
        raise UserError(f"downstream.train.max_length: {train.max_length} tokens hold no response of any "
                        f"of the {len(pairs)} training pairs (their prompts alone are longer)")
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype, attn_implementation="eager")
    lora = params.lora
    model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                             target_modules=list(lora.target_modules), bias="none",
                                             task_type="CAUSAL_LM"))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    class ResponseLossTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return response_loss(model, inputs)

    args = TrainingArguments(
        output_dir=str(out / "trainer"), num_train_epochs=train.epochs, learning_rate=train.learning_rate,
        per_device_train_batch_size=train.batch_size, lr_scheduler_type="linear", warmup_steps=0,
        weight_decay=0.0, seed=params.seed, data_seed=params.seed, logging_steps=1, save_strategy="no",
        report_to=[], use_cpu=device == "cpu", bf16=device == "cuda", dataloader_num_workers=0,
        remove_unused_columns=False, disable_tqdm=True,
    )
    trainer = ResponseLossTrainer(model=model, args=args, train_dataset=examples,
                                  data_collator=lambda batch: collate(batch, pad))
    for printer in (ProgressCallback, PrinterCallback):  # they print every step's log dict
        trainer.remove_callback(printer)
    trainer.add_callback(_loss_bar())
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [round(float(log["loss"]), 6) for log in trainer.state.log_history if "loss" in log]
    if not all(math.isfinite(x) for x in losses):
        raise UserError(f"downstream.train.learning_rate: training diverged (loss {losses[-1]}); lower it")
    model.save_pretrained(out)
    shutil.rmtree(out / "trainer", ignore_errors=True)  # the Trainer's output_dir; nothing is saved there
    config_path = out / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["target_modules"] = sorted(config["target_modules"])
    if base_name is not None:
        config["base_model_name_or_path"] = base_name
    write_json(config_path, config)
    return Trained(losses=losses, examples=len(examples), cut=sum(
        len(e.input_ids) == train.max_length for e in examples), response_tokens=sum(
        sum(label != IGNORE for label in e.labels) for e in examples), seconds=seconds)


def report(trained: Trained, file: Any = sys.stderr) -> None:
    print(f"train: {trained.examples} examples, {trained.response_tokens} response tokens, "
          f"{len(trained.losses)} steps in {trained.seconds:.0f} s; loss {trained.losses[0]:.3f} -> "
          f"{trained.losses[-1]:.3f}" + (f"; {trained.cut} cut at max_length" if trained.cut else ""), file=file)
