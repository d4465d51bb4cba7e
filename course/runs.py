"""Training runs made of the course's own steps: the data, the tokenizer, the model, the loop.

``course train``, ``course sample`` and the other commands of ``course.cli`` build on this
module. Every piece comes from the steps: the character tokenizer (step 01), the split
(step 02), the bigram (step 00), MLP (step 04) or GPT (step 08) model, the training loop
and checkpoints (step 09) and sampling (step 10). By default they are the student's own
modules in ``exercises/``; ``use_solutions=True`` takes the reference in ``solutions/``.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import sys
import time
from pathlib import Path

import torch

from course.data import CORPORA, load_corpus
from grader.status import REPO, CommandError, graded_with_reuse, step_title

# The steps each model needs, besides the tokenizer (01), the split (02) and training (09).
MODEL_STEPS = {
    "bigram": ["step00"],
    "mlp": ["step03", "step04"],
    "transformer": ["step03", "step05", "step06", "step07", "step08"],
}
COMMON_STEPS = ["step01", "step02", "step09"]
DATA_NAMES = {"shakespeare": "shakespeare", "stories": "tinystories", "tinystories": "tinystories",
              "abab": "abab", "toy": "abab"}

# A preset is every setting of a run: the model's sizes and the training config.
PRESETS = {
    # A few seconds: for tests and a first look.
    "tiny": dict(n_layer=1, n_head=2, n_embd=16, n_hidden_layers=1, dropout=0.0, block_size=16, batch_size=8,
                 steps=40, max_lr=1e-2, min_lr=1e-3, warmup_steps=5, eval_interval=20, checkpoint_interval=20),
    # A couple of minutes on a laptop CPU: samples that start to look like the text.
    "small": dict(n_layer=2, n_head=4, n_embd=64, n_hidden_layers=2, dropout=0.0, block_size=64, batch_size=16,
                  steps=600, max_lr=3e-3, min_lr=3e-4, warmup_steps=50, eval_interval=200, checkpoint_interval=200),
    # Tuned for a 2-core CPU and about 10 minutes on Shakespeare (bench/train_shakespeare.py): a longer
    # context, a higher peak rate decayed to a hundredth of itself (to a tenth, as nanoGPT's recipe does,
    # the run ended 0.015 higher: 1.563 against 1.548 in 10 minutes on one CPU), and dropout (the
    # validation plays differ from the training ones: without it the validation loss turns back up after
    # 5 minutes). Dropout 0.2, a peak of 1.5e-3 or 3e-3, n_embd 192, 2 or 8 heads, a context of 256
    # (batch 8), and beta2 0.95 each ended higher on one CPU (1.586 to 1.639 against 1.563 and 1.571:
    # the README); dropout 0.05 and weight decay 0.2 ended 0.007 and 0.004 lower in the same hour (1.564
    # and 1.567 against 1.571), less than the spread between runs of one setting. Those were all AdamW;
    # the benchmark trains the blocks' weight matrices with Muon (optimizer="muon"), the tables, biases
    # and norms with AdamW: on the AVX2-only EPYC, 1,500 steps ended at 1.657 against AdamW's 1.800, and
    # 10 minutes at 1.593 against 1.607 for AdamW's best. With Muon, both optimisers take twice the rate
    # that suits AdamW alone (muon_lr: peak, floor): 1.523 and 1.540 in 10 minutes on the BF16 EPYC;
    # AdamW alone ended higher at 3e-3 than at 2e-3, so max_lr keeps 2e-3 for `course train`. Where a
    # budget is fewer than 10 passes over the text (a slower CPU, a short run), the benchmark trains it
    # without dropout (its SHORT_BUDGET: no overfitting yet to fight). The benchmark also compiles the
    # training step and runs it in bfloat16 (compile, bf16), each only where it pays on the CPU at hand:
    # without the CPU's own bfloat16 instructions, bfloat16 is many times slower. `course train` leaves
    # those three out (it trains with your step 09 AdamW). torch's fused attention kernel only where the
    # step is not compiled (`course train`: 14% faster than the written-out attention): on a CPU its
    # backward pass for heads of 32 dims took 40% of a compiled bfloat16 step, and step 06's attention,
    # compiled, trains about 1.4x faster.
    "shakespeare-cpu": dict(n_layer=4, n_head=4, n_embd=128, n_hidden_layers=2, dropout=0.1, block_size=128,
                            batch_size=16, steps=5000, max_lr=2e-3, min_lr=2e-5, warmup_steps=100, beta2=0.99,
                            weight_decay=0.1, grad_clip=1.0, eval_interval=1000, checkpoint_interval=1000,
                            fused_attention=True, compile=True, bf16=True, optimizer="muon", muon_lr=(4e-3, 4e-5)),
    # The hyperparameters of nanoGPT's published CPU recipe for Shakespeare, in the course's trainer.
    "nanogpt-cpu": dict(n_layer=4, n_head=4, n_embd=128, n_hidden_layers=2, dropout=0.0, block_size=64,
                        batch_size=12, steps=2000, max_lr=1e-3, min_lr=1e-4, warmup_steps=100, beta2=0.99,
                        weight_decay=0.1, grad_clip=1.0, eval_interval=500, checkpoint_interval=500),
}
EVAL_KEYS = ("val_loss", "perplexity", "bits_per_token")
MODEL_KEYS = {"n_layer", "n_head", "n_embd", "n_hidden_layers", "dropout", "block_size", "activation"}


class RunDiverged(CommandError):
    """Training stopped on a nan or inf; ``records`` holds the curve up to there."""

    def __init__(self, message: str, records: list[dict]):
        super().__init__(message)
        self.records = records


def implementation(use_solutions: bool) -> str:
    """The package the pieces come from: the reference or the student's own modules."""
    if use_solutions and not (REPO / "solutions").is_dir():
        raise CommandError("--solutions needs the instructor copy (solutions/ is missing here)")
    return "solutions" if use_solutions else "exercises"


def load(step: str, module: str, use_solutions: bool):
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module(f"{implementation(use_solutions)}.{step}.{module}")


def require_steps(steps: list[str], command: str, use_solutions: bool) -> None:
    """Stop with one line naming the first unfinished step among ``steps``.

    The reference is complete by definition. For the student's code, every needed step is
    graded (grades of unchanged steps are reused, as in ``course status``).
    """
    if use_solutions:
        return
    scores, _ = graded_with_reuse([], fresh=False, steps=sorted(steps))
    for score in sorted(scores, key=lambda s: s["step"]):
        if score["points"] < score["max_points"]:
            step = score["step"]
            title = f" ({step_title(step)})" if step_title(step) else ""
            raise CommandError(f"{command} needs {step}{title}: your code scores {score['points']}/"
                               f"{score['max_points']} points there; finish it first (pytest exercises/{step} "
                               "shows what is missing)")


def corpus(name_or_path: str) -> tuple[str, str]:
    """(a short name for the data, its text). ``abab`` is the bigram step's pattern, repeated."""
    name = DATA_NAMES.get(name_or_path)
    if name == "abab":
        return "abab", "ab" * 1000
    if name in CORPORA:
        return name, load_corpus(name)
    text = load_corpus(name_or_path)
    return Path(name_or_path).stem or "data", text


def settings_for(preset: str, overrides: dict) -> dict:
    if preset not in PRESETS:
        raise CommandError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    settings = {"activation": "gelu", **PRESETS[preset]}
    settings.update({key: value for key, value in overrides.items() if value is not None})
    if "max_lr" in overrides and overrides["max_lr"] is not None and overrides.get("min_lr") is None:
        settings["min_lr"] = settings["max_lr"] / 10
    return settings


def build_tokenizer(vocabulary: str, use_solutions: bool):
    """The step 01 character tokenizer over the characters of ``vocabulary``."""
    return load("step01", "char_tokenizer", use_solutions).CharTokenizer(vocabulary)


def build_model(kind: str, vocab_size: int, settings: dict, use_solutions: bool) -> torch.nn.Module:
    if kind == "bigram":
        return load("step00", "bigram", use_solutions).BigramLM(vocab_size)
    if kind == "mlp":
        mlp = load("step04", "mlp_lm", use_solutions)
        return mlp.FeedForwardLM(vocab_size, settings["n_embd"], settings["n_hidden_layers"])
    if kind == "transformer":
        gpt = load("step08", "gpt", use_solutions)
        model = gpt.GPT(gpt.GPTConfig(vocab_size=vocab_size, block_size=settings["block_size"],
                                      n_layer=settings["n_layer"], n_head=settings["n_head"],
                                      n_embd=settings["n_embd"], dropout=settings["dropout"]))
        for block in model.blocks:  # step 07's MLP reads its activation ("gelu" or "relu") at every call
            block.mlp.activation = settings.get("activation", "gelu")
        return model
    raise CommandError(f"unknown model {kind!r}: choose bigram, mlp or transformer")


def use_fused_attention(model: torch.nn.Module) -> None:
    """Run every block's attention with torch's fused kernel (``F.scaled_dot_product_attention``).

    The same computation as step 06's batched path, through the parts step 06 names
    (query, key, value, split_heads, merge_heads, out_proj), without materialising the
    (T, T) weights: faster, and ``last_attention`` is no longer kept. Only for training
    speed; ``course attention`` and ``course trace`` load the model without it.
    """
    import torch.nn.functional as F

    for block in getattr(model, "blocks", []):
        attention = block.attn

        def fused(x, attention=attention):
            q, k, v = (attention.split_heads(layer(x)) for layer in (attention.query, attention.key, attention.value))
            dropout = attention.dropout.p if attention.training and hasattr(attention, "dropout") else 0.0
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=attention.causal)
            return attention.out_proj(attention.merge_heads(out))  # (B, nh, T, hs) -> (B, T, C)

        attention.forward = fused


def pick_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise CommandError("--device cuda: no CUDA GPU is available here (use --device cpu or auto)")
    if name not in ("cpu", "cuda"):
        raise CommandError(f"unknown device {name!r}: choose auto, cpu or cuda")
    return name


def write_metrics(path: Path, records: list[dict]) -> None:
    """One CSV row per step; evaluation columns filled on the steps that were evaluated."""
    columns = ["step", "loss", "lr", "grad_norm", "val_loss", "perplexity", "bits_per_token"]
    rows: dict[int, dict] = {}
    for record in records:
        if "val_loss" in record:
            rows.setdefault(record["step"] - 1, {}).update(
                {key: record[key] for key in EVAL_KEYS})
        else:
            rows.setdefault(record["step"], {}).update(record)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for step in sorted(rows):
            writer.writerow({"step": step, **{k: v for k, v in rows[step].items() if k != "step"}})


def read_metrics(path: Path) -> list[dict]:
    with path.open() as file:
        return [{key: float(value) for key, value in row.items() if value != ""} for row in csv.DictReader(file)]


def plot_losses(path: Path, curves: dict[str, list[dict]], title: str) -> None:
    """Training loss (smoothed) and validation loss of each run, on one figure."""
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for index, (label, rows) in enumerate(curves.items()):
        colour = f"C{index}"
        steps = [r["step"] for r in rows if "loss" in r]
        losses = [r["loss"] for r in rows if "loss" in r]
        window = max(1, len(losses) // 50)
        smooth = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
                  for i in range(len(losses))]
        axes.plot(steps, smooth, color=colour, alpha=0.6, linewidth=1, label=f"{label} train")
        val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
        if val:
            axes.plot(*zip(*val), "o-", color=colour, label=f"{label} val")
    axes.set_xlabel("step")
    axes.set_ylabel("loss (nats per token)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


@dataclasses.dataclass
class LoadedRun:
    """A trained model and what it needs to read and write text."""

    model: torch.nn.Module
    tokenizer: object
    block_size: int
    kind: str
    checkpoint: dict


def load_run(path: str | Path, use_solutions: bool) -> LoadedRun:
    """Rebuild the model and tokenizer of a ``course train`` checkpoint, with its weights."""
    trainer = load("step09", "trainer", use_solutions)
    try:
        checkpoint = trainer.load_checkpoint(path)
    except NotImplementedError:
        raise CommandError("reading a checkpoint needs step09 (load_checkpoint): finish it first") from None
    except ValueError as err:
        raise CommandError(str(err)) from None
    extra = checkpoint.get("extra", {})
    if "model" not in extra or "tokenizer" not in extra:
        raise CommandError(f"{path} was not written by `course train` (it has no model or tokenizer settings)")
    tokenizer = build_tokenizer(extra["tokenizer"]["characters"], use_solutions)
    if tokenizer.vocab_size != extra["tokenizer"]["vocab_size"]:
        raise CommandError(f"{path}: the tokenizer rebuilt from the checkpoint has {tokenizer.vocab_size} ids, "
                           f"the checkpoint says {extra['tokenizer']['vocab_size']}")
    settings = extra["model"]["settings"]
    model = build_model(extra["model"]["kind"], tokenizer.vocab_size, settings, use_solutions)
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[-1].strip()
        raise CommandError(f"{path} does not fit this model ({first})") from None
    model.eval()
    return LoadedRun(model, tokenizer, settings["block_size"], extra["model"]["kind"], checkpoint)


def encode_prompt(run: LoadedRun, prompt: str) -> torch.Tensor:
    """The prompt as ids (1, T); characters outside the vocabulary are an error, not [UNK]."""
    if not prompt:
        raise CommandError("the prompt is empty: give at least one character")
    known = set(run.checkpoint["extra"]["tokenizer"]["characters"])
    unknown = sorted({ch for ch in prompt if ch not in known})
    if unknown:
        raise CommandError(f"the prompt has characters the model never saw in training: "
                           f"{''.join(unknown)!r}; use characters of its training text")
    return torch.tensor([run.tokenizer.encode(prompt)], dtype=torch.long)


def train_config(trainer, settings: dict, **changes):
    """Step 09's ``TrainConfig`` from the training settings among ``settings`` (a preset holds model sizes too)."""
    fields = {field.name for field in dataclasses.fields(trainer.TrainConfig)}
    return trainer.TrainConfig(**{**{key: value for key, value in settings.items() if key in fields}, **changes})


def model_settings(settings: dict) -> dict:
    return {key: settings[key] for key in sorted(MODEL_KEYS)}


def train_run(kind: str, data: str, preset: str, overrides: dict, out: Path, *, use_solutions: bool,
              device: str = "cpu", resume: bool = False, progress: bool = True, log=print) -> dict:
    """Train a model of ``kind`` on ``data`` and write the run's files into ``out``.

    Files: ``checkpoint.pt`` (step 09's checkpoint), ``metrics.csv`` (a row per step) and
    ``loss.png`` (the curves). Returns a summary: the last evaluation, seconds, tokens per
    second, the parameter count and the paths.
    """
    from tqdm import tqdm

    trainer = load("step09", "trainer", use_solutions)
    dataset = load("step02", "dataset", use_solutions)
    data_name, text = corpus(data)
    settings = settings_for(preset, overrides)
    tokenizer = build_tokenizer(text, use_solutions)
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    train_ids, val_ids = dataset.train_val_split(ids, 0.1)
    if train_ids.numel() <= settings["block_size"] or val_ids.numel() < 2:
        raise CommandError(f"{data}: {ids.numel()} characters are too few for block_size {settings['block_size']}: "
                           "use more text or a smaller --block-size")
    config = train_config(trainer, settings)
    if device == "cpu":
        # One seed, one run: with several threads, the backward pass of an embedding lookup (an
        # indexed add into the table) sums repeated ids in whatever order the threads finish, and
        # losses drifted by 1e-7 between two runs of the same seed. The deterministic kernels cost
        # nothing measurable here. (On a GPU two runs gave equal losses without them.)
        torch.use_deterministic_algorithms(True)
    torch.manual_seed(config.seed)  # the initial weights
    model = build_model(kind, tokenizer.vocab_size, settings, use_solutions).to(device)
    if settings.get("fused_attention") and kind == "transformer":
        use_fused_attention(model)
        log("attention runs through torch's fused kernel (F.scaled_dot_product_attention)")
    out.mkdir(parents=True, exist_ok=True)
    checkpoint_path, metrics_path = out / "checkpoint.pt", out / "metrics.csv"
    characters = "".join(sorted(set(text)))
    extra = {"model": {"kind": kind, "settings": model_settings(settings)}, "data": data_name,
             "tokenizer": {"kind": "char", "characters": characters, "vocab_size": tokenizer.vocab_size}}
    records: list[dict] = []
    if resume:
        previous = load_run(checkpoint_path, use_solutions).checkpoint
        if previous["extra"]["tokenizer"]["characters"] != characters:
            raise CommandError(f"{checkpoint_path} was trained on another vocabulary "
                               f"({previous['extra']['tokenizer']['vocab_size']} ids, this data has "
                               f"{tokenizer.vocab_size}): resume it on its own data ({previous['extra']['data']})")
        if previous["extra"]["model"] != extra["model"]:
            raise CommandError(f"{checkpoint_path} holds a {previous['extra']['model']['kind']} model with other "
                               "settings: resume with the same --model and preset")
        if metrics_path.is_file():  # the curves so far, up to the checkpoint's step
            for row in read_metrics(metrics_path):
                step = int(row["step"])
                if step >= previous["step"] or "loss" not in row:
                    continue
                records.append({"step": step, "loss": row["loss"], "lr": row["lr"], "grad_norm": row["grad_norm"]})
                if "val_loss" in row:
                    records.append({"step": step + 1, **{key: row[key] for key in EVAL_KEYS}})
    start_step = sum("loss" in record for record in records)
    parameters = sum(p.numel() for p in model.parameters())
    log(f"training a {kind} model ({parameters:,} parameters) on {data_name}: {train_ids.numel():,} training and "
        f"{val_ids.numel():,} validation characters, vocabulary {tokenizer.vocab_size}, on {device}")
    bar = tqdm(total=config.steps, initial=start_step, disable=not progress, unit="step", dynamic_ncols=True)

    def on_record(record: dict) -> None:
        records.append(dict(record))
        if "loss" in record:
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.2e}")
        else:
            recent = [r["loss"] for r in records[-config.eval_interval - 1:] if "loss" in r]
            bar.write(f"step {record['step']:>6}: train loss {sum(recent) / max(len(recent), 1):.4f} (mean since "
                      f"the last evaluation), val loss {record['val_loss']:.4f}, perplexity {record['perplexity']:.2f}")

    started = time.perf_counter()
    try:
        history = trainer.train(model, train_ids.to(device), val_ids.to(device), config,
                                checkpoint_path=str(checkpoint_path), resume=resume, extra=extra,
                                on_record=on_record)
    except trainer.TrainingDiverged as err:
        write_metrics(metrics_path, records)
        raise RunDiverged(str(err), records) from None
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    write_metrics(metrics_path, records)
    plot_losses(out / "loss.png", {kind: read_metrics(metrics_path)}, f"{kind} on {data_name}")
    steps_done = len(history["loss"])
    return {"out": out, "checkpoint": checkpoint_path, "metrics": metrics_path, "plot": out / "loss.png",
            "final": history["evals"][-1] if history["evals"] else None, "seconds": seconds,
            "tokens_per_second": steps_done * config.batch_size * config.block_size / max(seconds, 1e-9),
            "parameters": parameters, "steps": steps_done, "config": config}


def sample_text(run: LoadedRun, prompt: str, max_new_tokens: int, *, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None, seed: int = 0,
                use_solutions: bool = False) -> str:
    """The prompt and ``max_new_tokens`` sampled characters, with step 10's sampler."""
    sampling = load("step10", "sampling", use_solutions)
    idx = encode_prompt(run, prompt)
    generator = torch.Generator().manual_seed(seed)
    out = sampling.generate(run.model, idx, max_new_tokens, block_size=run.block_size, temperature=temperature,
                            top_k=top_k, top_p=top_p, generator=generator)
    return run.tokenizer.decode(out[0].tolist())


# --- experiments: several runs on the same data, one figure ----------------------------------------

EXPERIMENTS = {
    "n_embd": ("the embedding width doubled",
               lambda base: {"baseline": {}, "n_embd x2": {"n_embd": 2 * base["n_embd"]}}),
    "n_layer": ("the number of layers doubled",
                lambda base: {"baseline": {}, "n_layer x2": {"n_layer": 2 * base["n_layer"]}}),
    "gelu": ("the MLP's activation: ReLU against GELU",
             lambda base: {"relu": {"activation": "relu"}, "gelu": {"activation": "gelu"}}),
    "lr": ("the learning rate x10 and /10", lambda base: {
        "baseline": {}, "lr x10": {"max_lr": 10 * base["max_lr"], "min_lr": 10 * base["min_lr"]},
        "lr /10": {"max_lr": base["max_lr"] / 10, "min_lr": base["min_lr"] / 10}}),
}


def run_variants(variants: dict[str, dict], kind: str, data: str, preset: str, overrides: dict, out: Path, *,
                 use_solutions: bool, device: str, progress: bool, log=print) -> list[dict]:
    """Train one run per variant (settings on top of the preset and overrides); a diverged run is a row too."""
    rows = []
    for label, changes in variants.items():
        folder = out / label.replace(" ", "_").replace("/", "div")
        log(f"\n--- {label}")
        try:
            summary = train_run(kind, data, preset, {**overrides, **changes}, folder, use_solutions=use_solutions,
                                device=device, progress=progress, log=log)
            rows.append({"label": label, "summary": summary, "curve": read_metrics(summary["metrics"])})
        except RunDiverged as err:
            log(str(err))
            curve = read_metrics(folder / "metrics.csv") if (folder / "metrics.csv").is_file() else []
            rows.append({"label": label, "summary": None, "curve": curve, "diverged": str(err)})
    return rows


def variants_table(rows: list[dict]) -> str:
    lines = ["| run | parameters | final val loss | perplexity | seconds |", "|---|---|---|---|---|"]
    for row in rows:
        summary = row["summary"]
        if summary is None:
            lines.append(f"| {row['label']} | | diverged | | |")
            continue
        final = summary["final"]
        lines.append(f"| {row['label']} | {summary['parameters']:,} | {final['val_loss']:.4f} | "
                     f"{final['perplexity']:.2f} | {summary['seconds']:.1f} |")
    return "\n".join(lines)


def side_by_side(texts: dict[str, str], width: int = 48) -> str:
    """Texts in columns of ``width`` characters, wrapped, each under its label."""
    import textwrap

    columns = []
    for label, text in texts.items():
        lines = []
        for paragraph in text.split("\n"):
            lines += textwrap.wrap(paragraph, width) or [""]
        columns.append([label, "-" * width] + lines)
    height = max(len(column) for column in columns)
    rows = []
    for i in range(height):
        rows.append(" | ".join(f"{(column[i] if i < len(column) else ''):<{width}}" for column in columns).rstrip())
    return "\n".join(rows)
