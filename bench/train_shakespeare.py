"""Benchmark: the reference GPT trained on Shakespeare for a fixed wall-clock budget.

Two presets run one after the other, on the same corpus and split, each with the same
budget (default 10 minutes of training):

* ``nanogpt-cpu``: the hyperparameters of nanoGPT's published CPU recipe (4 layers, 4 heads,
  n_embd 128, block 64, batch 12, dropout 0, AdamW 1e-3 -> 1e-4 cosine, warmup 100, beta2
  0.99, weight decay 0.1, clipping 1.0), in the course's own trainer;
* ``shakespeare-cpu``: the course's tuned preset (see ``course/runs.py``), whose blocks' weight
  matrices train with Muon (``torch.optim.Muon``) and everything else with step 09's AdamW.

The learning rate follows step 09's warmup and cosine decay, the decay timed by the clock:
it reaches its floor as the budget runs out, whatever pace the CPU keeps (``ClockSchedule``),
and a run stops before a step that would end past the budget. What a preset asks for speed is
kept only where it pays on the machine at hand: bfloat16 where the CPU computes in it, a
compiled step where a calibration beats the plain model's (figures differ a lot between CPUs,
so the report names the CPU and how each preset ran). Where the budget is too short for the
tuned preset's dropout (fewer passes over the text than it was tuned for), it trains with
the settings of ``SHORT_BUDGET`` instead. The budget counts training, including
the compilation of the step; the evaluations for the curve (one at each fifth of the budget,
each on the *whole* validation split, every token once, step 09's ``evaluate``) are made off
the clock. Each run's holdout loss is measured at the end the same way. Reported: val loss,
perplexity, bits per character, tokens per second, and a 500-character sample at temperature
1; both curves go on one plot.

    python bench/train_shakespeare.py                      # 2 x 10 minutes, print the figures
    python bench/train_shakespeare.py --minutes 1          # a quick look (short: SHORT_BUDGET's settings)
    python bench/train_shakespeare.py --write-readme       # also README.md and course/assets/shakespeare.png
    python bench/train_shakespeare.py --write-readme --readme-block shakespeare-avx2   # another CPU's block
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from course import runs  # noqa: E402
from course.data import shakespeare  # noqa: E402
from readme import cpu_name, fill_readme  # noqa: E402

CALIBRATION_STEPS = 40

# A preset's dropout is tuned for a number of passes over the training text. The tuned preset's was
# tuned where ten minutes are about 16 passes (8,000 steps of 16 x 128 characters on the CPU of the
# README's main figures); without dropout its validation loss turned back up after about 11. A budget
# that allows far fewer passes has no overfitting to fight, and dropout only slows the learning: on the
# AVX2-only EPYC, with AdamW, batch 16 with dropout 0.1 reached 1.798 in 10 minutes at 3.8 passes and
# 1.642 at 8.4, without dropout 1.746 at 3.8 passes, and batch 8 without dropout (twice the updates)
# 1.711 at 3.9 and 1.607 at 9.2. With Muon a step also orthogonalises 24 matrices (30 ms in float32 on
# that CPU, against 67 ms for a whole step at batch 8), so halving the batch no longer doubles the
# updates for the same time: the short budget keeps batch 16 and drops the dropout (1.593 at 7 passes,
# with dropout 0.1 1.633). The switch is at 10 passes, between the 9.2 where no dropout was still the
# better and the 11 where it overfitted; a short run (`--minutes 1`) switches on any CPU.
# preset: (fewest passes for its own settings, the settings of a shorter budget)
SHORT_BUDGET = {"shakespeare-cpu": (10, {"dropout": 0.0})}


class OutOfTime(Exception):
    pass


class DropoutFromRandomWords(torch.nn.Module):
    """``nn.Dropout(p)`` with its mask cut from 64-bit random words, four 16-bit draws from each.

    ``nn.Dropout`` asks the generator for one random number per element; on a 2-core AMD EPYC with
    AVX-512 BF16 its nine masks took 14 ms of an 88 ms compiled step (``torch.profiler``). Cutting
    each random word into four uniform 16-bit numbers and keeping an element where its number is at
    least ``round(p * 2**16)`` is the same dropout, with ``p`` rounded to a multiple of 1/65536
    (0.1 becomes 0.100006), and the kept elements scaled by one over the fraction really kept: the
    step took 79 ms. In eval mode it does nothing, like ``nn.Dropout``.
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        dropped = round(p * 2**16)
        # The 16-bit numbers are signed (-32768 .. 32767): keep those at least this far above the lowest.
        self.threshold = dropped - 2**15
        # The expectation stays x for the rounded p; at p = 1 nothing is kept, and nothing to scale.
        self.scale = 2**16 / (2**16 - dropped) if dropped < 2**16 else 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        n = x.numel()
        words = torch.randint(-2**63, 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=x.device)
        keep = words.view(torch.int16)[:n].view(x.shape) >= self.threshold
        return x * keep * self.scale


def with_cheaper_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with each of its ``nn.Dropout`` modules replaced by a ``DropoutFromRandomWords``."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Dropout):
                setattr(module, name, DropoutFromRandomWords(child.p))
    return model


def fused_adamw(configure):
    """Step 09's ``configure_optimizer``, its AdamW run by torch's fused CPU kernel.

    The same groups and hyperparameters, updated in one kernel rather than parameter by parameter
    (torch's default on a CPU): 62 ms per step instead of 67 for the tuned preset on that EPYC.
    """

    def configure_fused(*args, **kwargs):
        optimizer = configure(*args, **kwargs)
        groups = [{key: value for key, value in group.items() if key not in ("fused", "foreach")}
                  for group in optimizer.param_groups]
        return type(optimizer)(groups, fused=True)

    return configure_fused


class MuonAndAdamW:
    """Muon for the weight matrices inside the blocks, step 09's AdamW for everything else.

    Muon (``torch.optim.Muon``) keeps a momentum of each matrix's gradient, as SGD does, and
    replaces it by the nearest orthogonal matrix (five Newton-Schulz iterations) before the step:
    every direction of the matrix moves by about the same amount, where Adam's update is dominated
    by a few. With ``adjust_lr_fn="match_rms_adamw"`` its steps have AdamW's size at the same
    learning rate, so both follow step 09's schedule. It is meant for the hidden matrices only:
    the embedding table (tied to the head), the position table, biases and norm weights stay with
    AdamW. The trainer sets ``lr`` on ``param_groups`` (both optimisers' groups), then calls
    ``zero_grad`` and ``step``; the checkpoint holds both states.
    """

    def __init__(self, muon: torch.optim.Optimizer, adamw: torch.optim.Optimizer):
        self.muon, self.adamw = muon, adamw
        self.param_groups = muon.param_groups + adamw.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none)
        self.adamw.zero_grad(set_to_none)

    def step(self) -> None:
        self.muon.step()
        self.adamw.step()

    def state_dict(self) -> dict:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])


def with_muon(configure):
    """Step 09's ``configure_optimizer`` with the blocks' weight matrices moved to Muon.

    The groups step 09 makes (weight decay on the matrices, none on the 1-dim parameters) stay as
    they are for the rest, on torch's fused AdamW kernel; Muon gets group 0's learning rate and
    weight decay.
    """

    def configure_muon(model, lr, weight_decay, betas=(0.9, 0.99)):
        adamw = fused_adamw(configure)(model, lr, weight_decay, betas)
        inner = getattr(model, "model", model)  # FastTraining wraps the GPT
        hidden = [p for p in inner.blocks.parameters() if p.requires_grad and p.dim() == 2]
        moved = {id(p) for p in hidden}
        groups = [{**group, "params": [p for p in group["params"] if id(p) not in moved]} for group in adamw.param_groups]
        muon = torch.optim.Muon(hidden, lr=lr, weight_decay=adamw.param_groups[0]["weight_decay"],
                                adjust_lr_fn="match_rms_adamw")
        return MuonAndAdamW(muon, type(adamw)([group for group in groups if group["params"]]))

    return configure_muon


def orthogonalize_in_float32(grad: torch.Tensor, ns_coefficients, ns_steps: int, eps: float) -> torch.Tensor:
    """Muon's Newton-Schulz iteration as ``torch.optim.Muon`` runs it, in float32 instead of bfloat16.

    Where the CPU has no bfloat16 instructions, torch's own version (bfloat16) took 977 ms for the
    tuned preset's 24 matrices on the AVX2-only EPYC, this one 30 ms. The same quintic iteration:
    X <- a X + (b A + c A^2) X with A = X X^T, on the wide orientation, from X scaled to norm 1.
    """
    a, b, c = ns_coefficients
    tall = grad.size(0) > grad.size(1)
    x = grad.float().T if tall else grad.float()
    x = x / x.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


@contextlib.contextmanager
def optimizer_of(settings: dict, trainer):
    """Step 09's trainer building the optimiser ``settings`` asks for, until the block ends.

    AdamW on torch's fused kernel, or with ``optimizer="muon"`` Muon and AdamW (``with_muon``),
    Muon orthogonalising in bfloat16 (torch's own) where the step runs in it, else in float32.
    """
    import torch.optim._muon as muon_module

    own, orthogonalize = trainer.configure_optimizer, muon_module._zeropower_via_newtonschulz
    muon = settings.get("optimizer", "adamw") == "muon"
    trainer.configure_optimizer = (with_muon if muon else fused_adamw)(own)
    if muon and not settings.get("bf16"):
        muon_module._zeropower_via_newtonschulz = orthogonalize_in_float32
    try:
        yield
    finally:
        trainer.configure_optimizer, muon_module._zeropower_via_newtonschulz = own, orthogonalize


class ClockSchedule:
    """Step 09's ``lr_at`` with the cosine's progress read off a clock rather than counted in steps.

    A run planned as a number of steps ends with the budget only if the CPU keeps the pace its
    calibration measured, and on one machine calibrations of the same step gave 64 to 85 ms within
    an hour and a half: the run then either ends early or overruns, its rate not yet decayed. Here
    the warmup is counted in steps as before; after it, the progress of the decay is the share of
    the rest of the budget that has passed, so the rate reaches ``min_lr`` as the budget runs out.
    Called as the trainer calls ``lr_at`` (``total_steps``, its upper bound on steps, is not used).
    """

    # The decay is step 09's own cosine, read at this many points.
    POINTS = 1_000_000

    def __init__(self, lr_at, seconds, budget: float):
        self.lr_at, self.seconds, self.budget = lr_at, seconds, budget
        self.decay_start: float | None = None  # the clock when the warmup ended

    def __call__(self, step: int, *, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
        rates = dict(max_lr=max_lr, min_lr=min_lr, warmup_steps=warmup_steps)
        if step < warmup_steps:
            return self.lr_at(step, **rates, total_steps=total_steps)
        now = self.seconds()
        if self.decay_start is None:
            self.decay_start = now
        progress = min(1.0, (now - self.decay_start) / max(self.budget - self.decay_start, 1e-9))
        return self.lr_at(warmup_steps + round(progress * (self.POINTS - warmup_steps)), **rates,
                          total_steps=self.POINTS)


class FastTraining(torch.nn.Module):
    """The same model, trained faster: ``torch.compile`` and bfloat16 autocast in training mode,
    dropout masks from ``DropoutFromRandomWords``.

    Evaluation and sampling run the plain model in float32 (dropout does nothing there). The
    compiled module is kept out of the module tree, so the parameters are the model's own.
    """

    def __init__(self, model: torch.nn.Module, compile: bool, bf16: bool):
        super().__init__()
        self.model = with_cheaper_dropout(model)
        if compile:
            # Dropout masks from torch's own generator rather than inductor's: on the 2-core CPU of the
            # README's main figures the compiled step is 7% faster so (62 ms instead of 67, dropout 0.1).
            import torch._inductor.config

            torch._inductor.config.fallback_random = True
        object.__setattr__(self, "compiled", torch.compile(model) if compile else model)
        self.bf16 = bf16

    # Checkpoints hold the model's own weights, without this wrapper's "model." prefix, so that
    # `course sample` and `course attention` read them like any other checkpoint.
    def state_dict(self, *args, **kwargs):
        return self.model.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, idx, targets=None):
        if not self.training:
            return self.model(idx, targets)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return self.compiled(idx, targets)


def bfloat16_pays() -> bool:
    """Whether this CPU multiplies bfloat16 matrices faster than float32 ones.

    Where it has bfloat16 instructions (AVX-512 BF16, AMX), autocast speeds the step up. Where it
    has not, torch converts every product and the step becomes many times slower: on an AVX2-only
    AMD EPYC a (256, 512) @ (512, 512) product ran at 0.8 GFLOP/s in bfloat16 against 68 in float32.
    """
    left, right = torch.randn(256, 512), torch.randn(512, 512)
    pairs = {torch.bfloat16: (left.bfloat16(), right.bfloat16()), torch.float32: (left, right)}
    times: dict[torch.dtype, list[float]] = {dtype: [] for dtype in pairs}
    for a, b in pairs.values():
        a @ b  # the first product allocates and warms the caches
    # Taken in turns, so that a moment when another process holds the cores slows both. With five of
    # each timed one after the other, a run made beside another job once chose float32 on a CPU where
    # bfloat16 is 2.4 times faster (0.33 ms against 0.79); beside a loop of matrix products that check
    # chose float32 2 times in 40, this one 0 times in 40.
    for _ in range(10):
        for dtype, (a, b) in pairs.items():
            start = time.perf_counter()
            a @ b
            times[dtype].append(time.perf_counter() - start)
    return min(times[torch.bfloat16]) < min(times[torch.float32])


def prepare(settings: dict, vocab_text: str):
    """The tokenizer and the reference model of ``settings``, wrapped for its ``compile`` and ``bf16``."""
    tokenizer = runs.build_tokenizer(vocab_text, use_solutions=True)
    torch.manual_seed(settings.get("seed", 0))
    model = runs.build_model("transformer", tokenizer.vocab_size, settings, use_solutions=True)
    if settings.get("fused_attention") and not settings.get("compile"):
        # Compiled, the attention written out beats the fused kernel on a CPU (see the preset).
        runs.use_fused_attention(model)
    if settings.get("compile") or settings.get("bf16"):
        model = FastTraining(model, settings.get("compile", False), settings.get("bf16", False))
    return tokenizer, model


def seconds_per_step(settings: dict, text: str, train_ids: torch.Tensor, val_ids: torch.Tensor,
                     model: torch.nn.Module | None = None) -> tuple[float, float]:
    """(seconds per step after warm-up, seconds of warm-up), from a short run of ``settings``.

    On ``model`` when given (its weights are trained: restore them afterwards), else on a new one.
    """
    trainer = runs.load("step09", "trainer", True)
    if model is None:
        _, model = prepare(settings, text)
    config = runs.train_config(trainer, settings, steps=CALIBRATION_STEPS, warmup_steps=5, eval_interval=10**9)
    stamps = []
    start = time.perf_counter()
    with optimizer_of(settings, trainer):
        trainer.train(model, train_ids, val_ids[: settings["block_size"] + 2], config,
                      on_record=lambda record: stamps.append(time.perf_counter()) if "loss" in record else None)
    warm = CALIBRATION_STEPS // 2
    per_step = (stamps[-1] - stamps[warm]) / (len(stamps) - 1 - warm)
    return per_step, stamps[warm] - start - warm * per_step


def benchmark_settings(preset: str, overrides: dict) -> dict:
    """The preset's settings (``runs.settings_for``) as the benchmark trains them.

    Where it trains with Muon, the peak and floor of the rate are the preset's ``muon_lr``;
    ``max_lr`` and ``min_lr`` are the rates for AdamW alone, which ``course train`` uses. A rate
    given in ``overrides`` is kept as given.
    """
    settings = runs.settings_for(preset, overrides)
    rates_given = "max_lr" in overrides or "min_lr" in overrides
    if settings.get("optimizer") == "muon" and "muon_lr" in settings and not rates_given:
        settings["max_lr"], settings["min_lr"] = settings["muon_lr"]
    return settings


def fastest_settings(preset: str, text: str, train_ids, val_ids, overrides: dict | None = None) -> tuple[dict, float, float]:
    """The preset's settings (with ``overrides``), ``compile`` and ``bf16`` kept only where they pay here.

    bfloat16 only where the CPU computes in it (``bfloat16_pays``); a compiled step only where a
    calibration run is faster than the plain model's (whose attention is then torch's fused kernel,
    as ``fused_attention`` asks). Returns the settings, the seconds per step and the warm-up seconds.
    """
    settings = benchmark_settings(preset, overrides or {})
    if settings.get("bf16") and not bfloat16_pays():
        print(f"{preset}: this CPU has no fast bfloat16, training in float32", flush=True)
        settings["bf16"] = False
    candidates = [settings] + ([{**settings, "compile": False}] if settings.get("compile") else [])
    timed = [(candidate, *seconds_per_step(candidate, text, train_ids, val_ids)) for candidate in candidates]
    if len(timed) > 1:
        print(f"{preset}: {timed[0][1] * 1000:.1f} ms per step compiled, {timed[1][1] * 1000:.1f} ms not", flush=True)
    return min(timed, key=lambda entry: entry[1])


def training_mode(settings: dict) -> str:
    return (f"{'compiled' if settings.get('compile') else 'eager'}, {'bf16' if settings.get('bf16') else 'fp32'}, "
            f"{'Muon + AdamW' if settings.get('optimizer') == 'muon' else 'AdamW'}")


def run_preset(preset: str, minutes: float, text: str, train_ids, val_ids, out: Path) -> dict:
    trainer = runs.load("step09", "trainer", True)
    budget = 60 * minutes
    settings, per_step, warmup = fastest_settings(preset, text, train_ids, val_ids)

    def steps_in_budget(per_step: float, warmup: float) -> int:
        return max(50, int((budget - warmup) / per_step))

    steps = steps_in_budget(per_step, warmup)
    short_budget = None
    if preset in SHORT_BUDGET:
        fewest, shorter = SHORT_BUDGET[preset]
        passes = steps * settings["batch_size"] * settings["block_size"] / train_ids.numel()
        if passes < fewest:
            short_budget = (f"{', '.join(f'{key} {value}' for key, value in shorter.items())}: its own settings "
                            f"would pass over the training text {passes:.1f} times, fewer than {fewest}")
            print(f"{preset}: training with {short_budget}", flush=True)
            settings, per_step, warmup = fastest_settings(preset, text, train_ids, val_ids, shorter)
            steps = steps_in_budget(per_step, warmup)
    tokenizer, model = prepare(settings, text)
    inner = model.model if isinstance(model, FastTraining) else model
    # The clock starts before a calibration of the model that trains: its warm-up compiles the step
    # the run then uses, so the compilation counts against the budget. The weights go back to where
    # they started, and the pace it measures sizes the warmup (a tenth of the run at most).
    clock = {"start": time.perf_counter(), "paused": 0.0}
    initial = copy.deepcopy(inner.state_dict())
    per_step, warmup = seconds_per_step(settings, text, train_ids, val_ids, model=model)
    inner.load_state_dict(initial)
    steps = steps_in_budget(per_step, time.perf_counter() - clock["start"])
    print(f"{preset} ({training_mode(settings)}): {per_step * 1000:.1f} ms per step after {warmup:.1f} s of "
          f"warm-up, about {steps} steps in {minutes:g} min", flush=True)
    # The clock ends the run: the trainer's own bound on steps (twice the estimate) is not meant to be
    # reached. Its evaluation and checkpoint would come at that bound; the curve's evaluations and the
    # checkpoint are made here instead.
    config = runs.train_config(trainer, settings, steps=2 * steps, warmup_steps=min(settings["warmup_steps"], steps // 10),
                               eval_interval=2 * steps, checkpoint_interval=2 * steps)
    curve: list[dict] = []
    # The curve's evaluations run on a twin that gets a copy of the weights: switching the trained model
    # to eval mode and back would make torch.compile compile its training step again.
    twin = runs.build_model("transformer", tokenizer.vocab_size, settings, use_solutions=True)
    evaluations_at = [budget * fifth / 5 for fifth in (1, 2, 3, 4)]
    pace = {"ended": 0.0}  # when the last step ended, on the training clock

    def training_seconds() -> float:
        return time.perf_counter() - clock["start"] - clock["paused"]

    def on_record(record: dict) -> None:
        if "loss" not in record:
            return
        curve.append({**record, "seconds": training_seconds()})
        done = record["step"] + 1
        if evaluations_at and training_seconds() >= evaluations_at[0]:
            evaluations_at.pop(0)
            paused = time.perf_counter()
            twin.load_state_dict(inner.state_dict())
            evaluation = trainer.evaluate(twin, val_ids, settings["block_size"], 64)
            clock["paused"] += time.perf_counter() - paused
            curve.append({"step": done, "val_loss": evaluation["loss"], "seconds": training_seconds()})
            print(f"  step {done:>5}  {training_seconds():6.0f} s  val loss {evaluation['loss']:.4f}", flush=True)
        # Stop before a step that would end past the budget, judged by the pace of the last one.
        now = training_seconds()
        last_step, pace["ended"] = now - pace["ended"], now
        if now + last_step > budget:
            raise OutOfTime

    optimizers = []  # the trainer builds its optimiser inside train(): kept here for the checkpoint
    with optimizer_of(settings, trainer):
        configure = trainer.configure_optimizer
        trainer.configure_optimizer = lambda *args, **kwargs: optimizers.append(configure(*args, **kwargs)) or optimizers[-1]
        trainer.lr_at = ClockSchedule(trainer.lr_at, training_seconds, budget)
        try:
            trainer.train(model, train_ids, val_ids, config, on_record=on_record)
        except OutOfTime:
            pass
        finally:
            trainer.lr_at, trainer.configure_optimizer = trainer.lr_at.lr_at, configure
    seconds = training_seconds()
    done = sum("loss" in record for record in curve)
    model = inner
    # The trainer's generator of batches is its own; replaying the draws gives the state it ended in.
    batches = torch.Generator().manual_seed(config.seed)
    for _ in range(done):
        trainer.get_batch(train_ids, config.batch_size, config.block_size, generator=batches)
    trainer.save_checkpoint(out / preset / "checkpoint.pt", {
        "format": trainer.CHECKPOINT_FORMAT, "step": done, "model": model.state_dict(),
        "optimizer": optimizers[-1].state_dict(),
        # The run's length is the steps it made, not the bound the clock kept it from reaching.
        "train_config": dataclasses.asdict(dataclasses.replace(config, steps=done)),
        "rng": {"torch": torch.get_rng_state(), "cuda": [], "batches": batches.get_state()},
        "extra": {"model": {"kind": "transformer", "settings": runs.model_settings(settings)}, "data": "shakespeare",
                  "tokenizer": {"kind": "char", "characters": "".join(sorted(set(text))),
                                "vocab_size": tokenizer.vocab_size}}})
    evaluation = trainer.evaluate(model, val_ids, settings["block_size"], 64)
    curve.append({"step": done, "val_loss": evaluation["loss"], "seconds": seconds})
    sampling = runs.load("step10", "sampling", True)
    prompt = torch.tensor([tokenizer.encode("\n")])
    sample = sampling.generate(model, prompt, 500, block_size=settings["block_size"], temperature=1.0,
                               generator=torch.Generator().manual_seed(0))
    return {"preset": preset, "steps": done, "seconds": seconds,
            "tokens_per_second": done * config.batch_size * config.block_size / seconds,
            "parameters": sum(p.numel() for p in model.parameters()), "val": evaluation, "curve": curve,
            "sample": tokenizer.decode(sample[0].tolist())[1:], "settings": settings, "short_budget": short_budget}


def plot(results: list[dict], path: Path, minutes: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for index, result in enumerate(results):
        colour = f"C{index}"
        train = [(r["seconds"] / 60, r["loss"]) for r in result["curve"] if "loss" in r]
        window = max(1, len(train) // 60)
        smooth = [sum(l for _, l in train[max(0, i - window + 1):i + 1]) / len(train[max(0, i - window + 1):i + 1])
                  for i in range(len(train))]
        axes.plot([t for t, _ in train], smooth, color=colour, alpha=0.5, linewidth=1,
                  label=f"{result['preset']} train (smoothed)")
        val = [(r["seconds"] / 60, r["val_loss"]) for r in result["curve"] if "val_loss" in r]
        axes.plot(*zip(*val), "o-", color=colour, label=f"{result['preset']} val (whole split)")
    axes.axhline(1.55, color="grey", linestyle=":", linewidth=1, label="goal 1.55")
    axes.set_xlabel("wall-clock minutes of training")
    axes.set_ylabel("loss (nats per character)")
    axes.set_ylim(1.2, 3.0)
    axes.set_title(f"Shakespeare, character level, {minutes:g} min per preset, {os.cpu_count()} cores of {cpu_name()}",
                   fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per preset")
    parser.add_argument("--presets", default="nanogpt-cpu,shakespeare-cpu")
    parser.add_argument("--out", default=str(REPO / "runs" / "bench-shakespeare"))
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--readme-block", default="shakespeare",
                        help="the README block to fill (<!-- bench:NAME -->) and the plot's name, course/assets/NAME.png: "
                             "figures from another kind of CPU go in a block of their own")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    text = shakespeare()
    dataset = runs.load("step02", "dataset", True)
    tokenizer = runs.build_tokenizer(text, use_solutions=True)
    train_ids, val_ids = dataset.train_val_split(torch.tensor(tokenizer.encode(text)), 0.1)
    print(f"Shakespeare: {len(text):,} characters, vocabulary {tokenizer.vocab_size} (72 symbols in the text and "
          f"[UNK]), train {train_ids.numel():,}, val {val_ids.numel():,}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = [run_preset(preset, args.minutes, text, train_ids, val_ids, out) for preset in args.presets.split(",")]
    lines = [f"Training the reference GPT on the Shakespeare corpus (90/10 split, character level) for "
             f"{args.minutes:g} minute{'s' * (args.minutes != 1)} per preset, {os.cpu_count()} cores of {cpu_name()}, "
             f"torch {torch.__version__}, "
             f"Python {platform.python_version()} (`python bench/train_shakespeare.py`). Val loss on the whole "
             f"validation split ({val_ids.numel():,} characters, every one once):", "",
             "| preset | parameters | context x batch | training | steps | tokens/s | val loss | perplexity | bits/char |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s, v = r["settings"], r["val"]
        lines.append(f"| `{r['preset']}` | {r['parameters']:,} | {s['block_size']} x {s['batch_size']} | {training_mode(s)} | "
                     f"{r['steps']:,} | {r['tokens_per_second']:,.0f} | "
                     f"**{v['loss']:.3f}** | {v['perplexity']:.2f} | {v['bits_per_token']:.3f} |")
    for r in results:
        if r["short_budget"]:
            lines += ["", f"`{r['preset']}` trained with {r['short_budget']} (`SHORT_BUDGET` in the benchmark)."]
    best = min(results, key=lambda r: r["val"]["loss"])
    lines += ["", f"A sample of `{best['preset']}` (500 characters, temperature 1, after a newline):", "",
              "```text", best["sample"].rstrip(), "```", "",
              f"![loss curves of both presets](course/assets/{args.readme_block}.png)"]
    report = "\n".join(lines)
    print("\n" + report)
    plot(results, out / f"{args.readme_block}.png", args.minutes)
    if args.write_readme:
        (REPO / "course" / "assets").mkdir(exist_ok=True)
        plot_path = REPO / "course" / "assets" / f"{args.readme_block}.png"
        plot_path.write_bytes((out / f"{args.readme_block}.png").read_bytes())
        fill_readme(args.readme_block, report)
        print(f"README.md and {plot_path.relative_to(REPO)} updated")


if __name__ == "__main__":
    main()
