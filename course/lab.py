"""What the step notebooks import: your modules (or the reference), and the meta-task's check.

A notebook runs *your* code: ``load("step05.attention")`` imports ``exercises/step05/attention.py``.
With the environment variable ``COURSE_SOLUTIONS=1`` (the instructor's copy, and the course's
own tests) it imports the reference from ``solutions/`` instead.

The meta-task asks for the whole pipeline as text arrows; ``pipeline_report`` reads such a
diagram and says which stages it found, in which order, and how many points that earns.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def use_solutions() -> bool:
    return os.environ.get("COURSE_SOLUTIONS", "") == "1"


def load(name: str):
    """Import one step module, e.g. ``load("step00.bigram")``: yours, or the reference with COURSE_SOLUTIONS=1."""
    if not re.fullmatch(r"step\d\d\.\w+", name):
        raise ValueError(f"load() takes 'stepNN.module', e.g. 'step00.bigram', not {name!r}")
    package = "solutions" if use_solutions() else "exercises"
    if not (REPO / package).is_dir():
        raise FileNotFoundError(f"COURSE_SOLUTIONS=1 needs the instructor copy: {REPO / package} is missing")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module(f"{package}.{name}")


def char_corpus(text: str):
    """``(tokenizer, ids)``: your step 01 ``CharTokenizer`` built on ``text``, and ``text`` encoded
    with it as an int64 tensor of shape (N,)."""
    import torch

    tokenizer = load("step01.char_tokenizer").CharTokenizer(text)
    return tokenizer, torch.tensor(tokenizer.encode(text))


def warm_up_optimizer() -> None:
    """Build a throwaway AdamW: the first one of a session imports part of torch (a second or two),
    which would otherwise land in the timing of whatever trains first."""
    import torch

    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])


def whose_code() -> str:
    """One line for the top of a notebook: which implementation it is running."""
    return ("the reference solutions (COURSE_SOLUTIONS=1)" if use_solutions()
            else f"your code in {REPO / 'exercises'}")


# The meta-task: the stages a complete diagram shows, in this order. Each stage is recognised by
# any of its words (lower case, matched at the start of a word), so students may write it their
# own way; one box may hold several consecutive stages ("encode the text into ids").
TRAINING_STAGES = [
    ("text", ("text", "corpus", "characters", "shakespeare", "data", "dataset", "raw")),
    ("tokenizer", ("tokeniz", "tokenis", "encode", "bpe")),
    ("token ids", ("ids", "id", "integers", "indices", "token id")),
    ("batches (x, y)", ("batch", "(x, y)", "x, y", "x,y", "pairs", "targets", "shifted", "windows")),
    ("embeddings + positions", ("embedding", "embed", "wte", "position")),
    ("N x blocks (attention + MLP)", ("attention", "block", "transformer", "mlp", "heads", "decoder", "layers")),
    ("logits", ("logits", "logit", "lm head", "lm_head", "unembed", "linear head", "probabilities", "scores")),
    ("loss", ("loss", "cross-entropy", "cross entropy", "nll", "negative log", "likelihood")),
    ("backward (gradients)", ("backward", "backprop", "gradient", "grads", "autograd")),
    ("optimizer step", ("optimizer", "optimiser", "adam", "adamw", "sgd", "update", "step")),
]
GENERATION_STAGES = [
    ("prompt", ("prompt", "context", "start", "input", "user")),
    ("token ids", ("ids", "id", "encode", "tokeniz", "tokenis", "integers", "indices")),
    ("the model (embeddings, blocks)", ("model", "embedding", "embed", "attention", "block", "transformer", "gpt",
                                        "decoder", "layers")),
    ("logits of the last position", ("logits", "logit", "probabilities", "probs", "distribution")),
    ("sampling (temperature, top-k, top-p)", ("sample", "sampling", "temperature", "top-k", "top-p", "softmax",
                                              "argmax", "greedy", "multinomial", "draw", "pick")),
    ("next token appended, repeat", ("append", "appended", "concat", "concatenate", "repeat", "loop", "feed back",
                                     "fed back", "extend", "autoregress", "again", "add it", "add to")),
]
# Arrows: ->, -->, =>, →, ⟶, ⇒, —> (a long dash), "then", and a line holding only ↓, v or |.
ARROW = re.compile(r"[-–—=]+>|→|⟶|⇒|\bthen\b|^\s*(?:↓|v|V|\|)\s*$", re.M)


def _nodes(diagram: str) -> list[str]:
    """The boxes of an arrow diagram, in the order the arrows go (lines read top to bottom)."""
    return [node.strip().lower() for node in ARROW.split(diagram) if node.strip()]


def _matches(node: str, words: tuple[str, ...]) -> bool:
    return any(re.search(r"(?<![a-z])" + re.escape(word), node) for word in words)


def _longest_in_order(positions: list[int]) -> int:
    """The length of the longest run of stages whose boxes come in order (one box may hold several)."""
    best: list[int] = []
    for index, position in enumerate(positions):
        best.append(1 + max((best[j] for j in range(index) if positions[j] <= position), default=0))
    return max(best, default=0)


@dataclass
class PipelineReport:
    found: dict[str, list[str]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    in_order: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    positions: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> the box it was found in

    def fraction(self) -> float:
        return sum(self.in_order.values()) / sum(self.totals.values())

    def points(self, out_of: float) -> float:
        """The automatic points for the text diagram, printed with what is missing or out of order."""
        for part in self.totals:
            print(f"{part}: {self.in_order[part]} of {self.totals[part]} stages found in a valid order")
            if self.missing[part]:
                print(f"  not found: {', '.join(self.missing[part])}")
            out_of_place = len(self.found[part]) - self.in_order[part]
            if out_of_place:
                boxes = ", ".join(f"{stage} (box {box + 1})" for stage, box in self.positions[part].items())
                print(f"  {out_of_place} stage(s) out of order; found at: {boxes}")
        return round(out_of * self.fraction(), 2)


def pipeline_report(training: str, generation: str) -> PipelineReport:
    """Check the two arrow diagrams of the meta-task against the stages they must show.

    Each diagram is a chain of boxes joined by arrows (``->``, ``=>`` or ``→``). A stage counts when
    one of the boxes names it; the stages found must appear in the order of the pipeline, and the
    score counts the longest run of stages that does (so one box out of place costs one stage).
    """
    report = PipelineReport()
    for part, diagram, stages in (("training", training, TRAINING_STAGES),
                                  ("generation", generation, GENERATION_STAGES)):
        if not isinstance(diagram, str):
            raise TypeError(f"the {part} diagram must be a string of boxes and arrows, not {type(diagram).__name__}")
        nodes = _nodes(diagram)
        positions, found, missing = [], [], []
        last = 0
        for name, words in stages:
            # The first box at or after the previous stage's that names this stage; else the first anywhere.
            hits = [i for i, node in enumerate(nodes) if _matches(node, words)]
            later = [i for i in hits if i >= last]
            if hits:
                position = (later or hits)[0]
                positions.append(position)
                found.append(name)
                last = max(last, position)
            else:
                missing.append(name)
        report.found[part], report.missing[part] = found, missing
        report.positions[part] = dict(zip(found, positions))
        report.in_order[part] = _longest_in_order(positions)
        report.totals[part] = len(stages)
    return report
