"""A tiny randomly initialised Gemma 3 causal LM with a word-level vocabulary, saved as a Hugging Face
folder, so the downstream pipeline's real training, adapter and scoring code runs in the fast tier
without pretrained weights; and a GGUF header of the same architecture for the adapter converter."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>"]
WORD = r"\w+|[^\w\s]"


def write_tiny_gemma(folder: Path, texts: Iterable[str], seed: int = 0, layers: int = 2) -> Path:
    """A Gemma3ForCausalLM folder (config, weights, tokenizer) whose vocabulary is every word of `texts`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

    texts = [*texts, "User: Assistant:"]  # the words of prompts/downstream.txt
    words = sorted({w for text in texts for w in re.findall(WORD, text)})
    vocab = {token: i for i, token in enumerate([*SPECIAL, *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()  # words and punctuation; spaces and newlines dropped
    tokenizer.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    config = Gemma3TextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=512,
                              sliding_window=64, pad_token_id=0, eos_token_id=1, bos_token_id=2,
                              initializer_range=0.5)  # logits wide enough for a LoRA to move (0.02: nearly uniform)
    Gemma3ForCausalLM(config).save_pretrained(folder)
    return folder


def write_gguf_header(path: Path, arch: str = "gemma3", blocks: int = 2) -> Path:
    """A GGUF model file with only what the adapter converter reads: architecture and block count."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(blocks)
    writer.add_tensor("output_norm.weight", np.ones(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
