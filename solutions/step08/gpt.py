"""Step 08: the full GPT, depth by stacking blocks.

Everything is in place. A GPT is the step 03 input layer, n_layer of your step 07 blocks
one after the other, a final LayerNorm, and the tied head of step 04:

    idx (B, T) -> token vectors + position vectors (B, T, C)
               -> block 1 -> block 2 -> ... -> block n_layer       (B, T, C)
               -> ln_f -> @ token_embedding.weight.T -> logits (B, T, V)

Each block has the same shape in and out, so depth is one number in the config: the same
code makes a 2-layer toy and a 48-layer GPT-2 XL. What grows with n_layer is the number
of parameters, the time per step, and how many rounds of "gather from the past, then
think" each position gets before it must predict.

Two details matter for training:

* **Initialisation.** The weights start small: N(0, 0.02) for every Linear and both
  embedding tables, biases at zero. Then the logits at the start are all close to 0, the
  predicted distribution is close to uniform, and the loss starts near ln(vocab_size),
  the loss of a model that knows nothing. Start from N(0, 1) tables and the model is
  confidently wrong about everything on step one, with a loss several times higher.
* **ln_f.** With pre-norm blocks, the residual pathway is never normalised inside the
  stack; the final LayerNorm rescales it once before the head reads it.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..step03.embedding import Embedding, check_ids
from ..step03.positional import LearnedPositionalEmbedding
from ..step06.multi_head import check_heads
from ..step07.block import Block, LayerNorm


@dataclasses.dataclass
class GPTConfig:
    """The sizes of a GPT. Invalid sizes raise ValueError as soon as the config is made."""

    vocab_size: int
    block_size: int  # the longest context the model reads
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 32
    dropout: float = 0.0
    bias: bool = True  # biases in the Linear layers and LayerNorms

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        check_heads(self.n_embd, self.n_head)


def gpt_parameter_count(config: GPTConfig) -> int:
    """The number of learned numbers in ``GPT(config)``.

    Work it out from the parts listed in ``GPT.__init__`` (the tied head counted once) and
    write it as a formula; the suite compares it with real models of several sizes. Use
    your step 06 ``attention_parameter_count`` for the attention layers if you like.

    Returns:
        int: the embeddings, n_layer blocks (two norms, attention, MLP), and ln_f.
    """
    ### BEGIN SOLUTION
    V, T, C, L = config.vocab_size, config.block_size, config.n_embd, config.n_layer
    b = 1 if config.bias else 0
    norm = C + b * C  # weight, and bias when config.bias
    attention = 4 * (C * C + b * C)  # query, key, value, out_proj
    mlp = (C * 4 * C + b * 4 * C) + (4 * C * C + b * C)  # fc, proj
    block = 2 * norm + attention + mlp
    return V * C + T * C + L * block + norm  # the head is the token table: counted once
    ### END SOLUTION


class GPT(nn.Module):
    """A decoder-only transformer language model."""

    def __init__(self, config: GPTConfig):
        """Build the parts, under exactly these names (the suite loads weights by them):

        * ``token_embedding``: your step 03 ``Embedding(vocab_size, n_embd)``;
        * ``position_embedding``: your step 03 ``LearnedPositionalEmbedding(block_size, n_embd)``;
        * ``dropout``: ``nn.Dropout(config.dropout)``, applied to the sum of the two;
        * ``blocks``: an ``nn.ModuleList`` of n_layer *separate* step 07
          ``Block(n_embd, n_head, block_size, dropout, bias)``;
        * ``ln_f``: your step 07 ``LayerNorm(n_embd, bias=bias)``;
        * the head: no parameters of its own, tied to ``token_embedding.weight`` as in step 04.

        Then initialise: every ``nn.Linear`` weight and both embedding tables from
        N(0, 0.02), every Linear bias at zero (the norms keep their ones and zeros).

        For n_layer = 1 and bias = True the ``state_dict`` holds, in this order::

            token_embedding.weight (V, C)          position_embedding.weight (block_size, C)
            blocks.0.ln_1.weight (C,)               blocks.0.ln_1.bias (C,)
            blocks.0.attn.query.weight (C, C)       blocks.0.attn.query.bias (C,)
            blocks.0.attn.key.weight (C, C)         blocks.0.attn.key.bias (C,)
            blocks.0.attn.value.weight (C, C)       blocks.0.attn.value.bias (C,)
            blocks.0.attn.out_proj.weight (C, C)    blocks.0.attn.out_proj.bias (C,)
            blocks.0.attn.mask (block_size, block_size)   (a buffer)
            blocks.0.ln_2.weight (C,)               blocks.0.ln_2.bias (C,)
            blocks.0.mlp.fc.weight (4C, C)          blocks.0.mlp.fc.bias (4C,)
            blocks.0.mlp.proj.weight (C, 4C)        blocks.0.mlp.proj.bias (C,)
            ln_f.weight (C,)                        ln_f.bias (C,)
        """
        super().__init__()
        self.config = config
        ### BEGIN SOLUTION
        C = config.n_embd
        self.token_embedding = Embedding(config.vocab_size, C)
        self.position_embedding = LearnedPositionalEmbedding(config.block_size, C)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(C, config.n_head, config.block_size, config.dropout, config.bias) for _ in range(config.n_layer))
        self.ln_f = LayerNorm(C, bias=config.bias)
        # Small weights: the first logits are near 0 and the first loss near ln(vocab_size).
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.token_embedding.weight, mean=0.0, std=0.02)
        nn.init.normal_(self.position_embedding.weight, mean=0.0, std=0.02)
        ### END SOLUTION

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits for the next token at every position, and the loss when targets are given.

        Args:
            idx: int64 tensor (B, T) of token ids, T <= block_size.
            targets: optional int64 tensor (B, T), the true next tokens.

        Returns:
            ``(logits, loss)``: logits (B, T, vocab_size) and the mean cross-entropy over all
            B * T positions, or ``None`` without targets (the interface of step 00).

        Raises:
            ValueError: when T > block_size (the model has no position vector past it), or
                for ids outside the vocabulary.
        """
        check_ids(idx, self.config.vocab_size)
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        if idx.shape[1] > self.config.block_size:
            raise ValueError(f"the input has {idx.shape[1]} tokens, more than block_size={self.config.block_size}: "
                             f"crop the context to its last {self.config.block_size} tokens")
        if targets is not None and targets.shape != idx.shape:
            raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, got {tuple(targets.shape)}")
        ### BEGIN SOLUTION
        x = self.token_embedding(idx) + self.position_embedding(idx)  # (B, T, C) + (T, C)
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        x = self.ln_f(x)
        logits = x @ self.token_embedding.weight.T  # (B, T, V): the tied head
        if targets is None:
            return logits, None
        B, T, V = logits.shape
        loss = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))
        return logits, loss
        ### END SOLUTION

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, generator: torch.Generator | None = None):
        """Extend each sequence by sampling one token at a time (as in step 00).

        The model reads at most block_size tokens: before each step, crop the context to its
        last block_size tokens. Sample with ``torch.multinomial`` from the softmax of the
        logits at the last position.

        Args:
            idx: int64 tensor (B, T), the prompt (it may be longer than block_size).
            max_new_tokens: how many tokens to append.
            generator: the random generator to sample with (for reproducible samples).

        Returns:
            int64 tensor (B, T + max_new_tokens): the prompt followed by the new tokens.
        """
        ### BEGIN SOLUTION
        for _ in range(max_new_tokens):
            context = idx[:, -self.config.block_size:]  # (B, <= block_size)
            logits, _ = self(context)
            probs = F.softmax(logits[:, -1, :], dim=-1)  # (B, V)
            next_token = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, next_token], dim=1)
        return idx
        ### END SOLUTION
