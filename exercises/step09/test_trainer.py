"""Grading suite for step 09, part 3: evaluation, the training loop, checkpoints (``trainer.py``).

The models here are small stand-ins defined at the bottom of this file (a table of
next-token logits, like step 00's), so this step is graded on its own: your loop must work
for any model with ``forward(x, y) -> (logits, loss)``. The central test replays the loop
documented in ``trainer.py`` here, with torch's own AdamW and clipping, and compares every
loss, every learning rate and the final weights with your run.
"""

import dataclasses
import math

import pytest
import torch
import torch._dynamo  # noqa: F401  (torch.optim imports it on first use: once here spares every worker the wait)
import torch.nn as nn
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_close
from grader.probes import parameters_by_name

V, BLOCK, BATCH = 6, 8, 4
GET_BATCH = {"step02 get_batch": "step02/test_dataset.py::test_get_batch_matches_its_starts"}
EVALUATE = {"evaluate": "test_evaluate_scores_every_token_once"}
LOOP = {**GET_BATCH, "train": "test_train_matches_a_replay_of_the_documented_loop"}


def train_config(student, **changes):
    settings = dict(steps=12, batch_size=BATCH, block_size=BLOCK, max_lr=0.05, min_lr=0.005, warmup_steps=3,
                    weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=0.1, eval_interval=5,
                    checkpoint_interval=5, seed=0)
    return student.trainer.TrainConfig(**{**settings, **changes})


def random_ids(generator, n: int) -> torch.Tensor:
    return torch.randint(0, V, (n,), generator=generator)


def per_token_loss(table: torch.Tensor, bias: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The loss of a ``TableLM`` at every position of ``ids``: (N - 1,)."""
    return F.cross_entropy(table[ids[:-1]] + bias, ids[1:], reduction="none")


# --- evaluate ---------------------------------------------------------------------------------

@points(3, hint="cut the ids into NON-overlapping windows (starts 0, block_size, 2 * block_size, ...), keep the "
                "short last one, and weigh each batch's mean loss by its number of targets: every token but the "
                "first is scored exactly once")
def test_evaluate_scores_every_token_once(student, generator):
    for n, batch_size in [(51, 4), (2 * BLOCK + 1, 3), (5, 2)]:  # a short last window; whole windows; one short one
        ids = random_ids(generator, n)
        model = student.probe(table_lm, seed=int(torch.randint(0, 1000, (), generator=generator)))
        weights = student.probe(parameters_by_name, model)
        result = student.trainer.evaluate(model, ids, BLOCK, batch_size)
        assert isinstance(result, dict) and {"loss", "perplexity", "bits_per_token", "tokens"} <= set(result), \
            f"evaluate returns a dict with loss, perplexity, bits_per_token and tokens, got {result!r}"
        losses = per_token_loss(weights["table"], weights["bias"], ids)
        expected = losses.mean()
        overlapping = torch.stack([per_token_loss(weights["table"], weights["bias"], ids[s:s + BLOCK + 1]).mean()
                                   for s in range(max(n - BLOCK, 1))]).mean()
        whole_windows = losses[: (n - 1) // BLOCK * BLOCK]
        window_means = torch.stack([losses[s:s + BLOCK].mean() for s in range(0, n - 1, BLOCK)])
        full = (n - 1) // BLOCK  # batches of whole windows, then the short one, each mean counted once
        batch_means = [losses[s * BLOCK:min(s + batch_size, full) * BLOCK].mean() for s in range(0, full, batch_size)]
        batch_means += [losses[full * BLOCK:].mean()] if full * BLOCK < n - 1 else []
        unweighted = "each window's (or batch's) mean counts the same, however short: weigh it by its number of " \
                     "targets"
        expect_close(torch.tensor(float(result["loss"])), expected, name=f"the loss over {n} tokens", mistakes={
            "the windows overlap (a start at every position): step the start by block_size":
                overlapping,
            "the short last window is dropped: score the leftover tokens too": whole_windows.mean()
                if len(whole_windows) else torch.tensor(float("nan")),
            unweighted: window_means.mean(),
            unweighted + " ": torch.stack(batch_means).mean(),
        })
        assert int(result["tokens"]) == n - 1, f"tokens should be {n - 1} (every target once), got {result['tokens']}"
        loss = float(result["loss"])
        with hint("perplexity = exp(loss) and bits_per_token = loss / ln 2, from the mean loss over tokens"):
            assert float(result["perplexity"]) == pytest.approx(math.exp(loss), rel=1e-6), "perplexity"
            assert float(result["bits_per_token"]) == pytest.approx(loss / math.log(2), rel=1e-6), "bits per token"


@points(2, hint="evaluate with model.eval() (dropout off) under torch.no_grad(), then put the model back in the "
                "mode it was in: model.train(was_training)",
        builds_on=EVALUATE)
def test_evaluate_runs_in_eval_mode_without_gradients(student, generator):
    ids = random_ids(generator, 40)
    for start_in_training_mode in (True, False):
        model = student.probe(table_lm, dropout=0.5)
        student.probe(set_mode, model, start_in_training_mode)
        student.trainer.evaluate(model, ids, BLOCK, 2)
        calls = student.probe(calls_of, model)
        assert calls, "evaluate never called the model"
        assert all(not call["training"] for call in calls), "the model ran in training mode (dropout on) in evaluate"
        assert all(not call["grad"] for call in calls), "evaluate ran the model with gradients enabled: use no_grad"
        assert all(call["T"] <= BLOCK and call["B"] <= 2 for call in calls), \
            f"windows must be at most block_size={BLOCK} long and batches at most batch_size=2: {calls}"
        after = student.probe(mode_of, model)
        with hint("the model's mode is not restored: remember was_training = model.training before switching to "
                  "eval mode, and call model.train(was_training) at the end"):
            assert after == start_in_training_mode, \
                f"the model was in {'training' if start_in_training_mode else 'eval'} mode before evaluate and " \
                f"in {'training' if after else 'eval'} mode after it: restore the mode it was in"


# --- the training loop ------------------------------------------------------------------------

@points(5, hint="the loop differs from the documented one: per step set lr_at(step) on every group, get_batch with "
                "the batch generator, loss, zero_grad, backward, clip (or measure) the gradient norm, "
                "optimizer.step(); the optimiser from configure_optimizer; both generators seeded with config.seed",
        builds_on=GET_BATCH)
def test_train_matches_a_replay_of_the_documented_loop(student, generator):
    ids = random_ids(generator, 200)
    train_ids, val_ids = ids[:160], ids[160:]
    config = train_config(student)
    settings = student.probe(fields_of, config)
    model = student.probe(table_lm, seed=3)
    history = student.trainer.train(model, train_ids, val_ids, config)
    steps = settings["steps"]
    assert isinstance(history, dict) and {"step", "loss", "lr", "grad_norm", "evals"} <= set(history), \
        f"train returns a dict with step, loss, lr, grad_norm and evals, got {type(history).__name__}"
    assert list(history["step"]) == list(range(steps)), f"history['step'] should be 0..{steps - 1}"
    replay = replay_training(train_ids, settings)
    with hint("the learning rates differ from lr_at(step, ...) for step = 0, 1, ...: the schedule spans "
              "config.steps, with config.warmup_steps, max_lr and min_lr"):
        expect_close(torch.tensor(history["lr"], dtype=torch.float64), torch.tensor(replay["lr"]),
                     name="the learning rates", rtol=1e-9)
    mistakes = {
        "the learning rate is logged but never set: assign it to group['lr'] for every group of the optimiser, "
        "every step": replay_training(train_ids, settings, constant_lr=True)["loss"],
        "the gradients are not clipped: when grad_clip > 0, clip_grad_norm(model.parameters(), grad_clip) "
        "between backward() and optimizer.step()": replay_training(train_ids, settings, clip=False)["loss"],
        "the gradients are not zeroed: they pile up from step to step; call optimizer.zero_grad() before "
        "backward()": replay_training(train_ids, settings, accumulate=True)["loss"],
        "every parameter is decayed: build the optimiser with your configure_optimizer (no decay on 1-D "
        "parameters)": replay_training(train_ids, settings, decay_all=True)["loss"],
    }
    expect_close(torch.tensor(history["loss"]), torch.tensor(replay["loss"]), name="the losses of the run",
                 atol=1e-5, mistakes={hint_: torch.tensor(losses) for hint_, losses in mistakes.items()})
    with hint("grad_norm is the global gradient norm BEFORE clipping (what clip_grad_norm returns)"):
        expect_close(torch.tensor(history["grad_norm"]), torch.tensor(replay["grad_norm"]), name="the gradient norms",
                     atol=1e-5)
    final = student.probe(parameters_by_name, model)
    expect_close(final["table"], replay["table"], name="the trained table", atol=1e-5)
    with hint("evaluate on the validation split every eval_interval steps and after the last step, recording "
              "{'step': steps done, 'val_loss', 'perplexity', 'bits_per_token'}"):
        evals = history["evals"]
        assert [e["step"] for e in evals] == [5, 10, 12], f"evaluations at {[e['step'] for e in evals]}"
        expected_val = per_token_loss(replay["table"], replay["bias"], val_ids).mean()
        expect_close(torch.tensor(float(evals[-1]["val_loss"])), expected_val, name="the last val_loss", atol=1e-5)
    records = student.probe(records_of_training, student.trainer.train, model, train_ids, val_ids,
                            train_config(student, steps=3, eval_interval=2))
    with hint("on_record must be called with each step's record as it is made, and with each evaluation"):
        assert [sorted(r) for r in records] == [["grad_norm", "loss", "lr", "step"]] * 2 + [
            ["bits_per_token", "perplexity", "step", "val_loss"], ["grad_norm", "loss", "lr", "step"],
            ["bits_per_token", "perplexity", "step", "val_loss"]], f"on_record received {records}"


@points(2, hint="seed torch's global generator (torch.manual_seed(config.seed): dropout draws from it) and a "
                "separate torch.Generator for the batches, both at the start of train",
        builds_on=LOOP)
def test_same_seed_same_losses(student, generator):
    ids = random_ids(generator, 120)
    runs = {}
    for run, seed in [("first", 0), ("second", 0), ("other seed", 1)]:
        model = student.probe(table_lm, dropout=0.3, seed=5)
        runs[run] = student.trainer.train(model, ids[:100], ids[100:], train_config(student, seed=seed))["loss"]
    assert runs["first"] == runs["second"], "two runs with the same seed gave different losses: " \
        f"{runs['first'][:4]}... vs {runs['second'][:4]}..."
    assert runs["first"] != runs["other seed"], "seed 1 gave exactly the losses of seed 0: config.seed is not used"


# --- checkpoints -----------------------------------------------------------------------------

@points(2, hint="a checkpoint is one dict with exactly the documented keys: format, step, model, optimizer, "
                "train_config, rng {'torch', 'batches'} and extra",
        builds_on=LOOP)
def test_checkpoint_holds_the_documented_state(student, generator, tmp_path):
    ids = random_ids(generator, 120)
    model = student.probe(table_lm)
    path = tmp_path / "run" / "checkpoint.pt"
    extra = {"model": {"kind": "table", "vocab_size": V}, "tokenizer": ["a", "b", "c", "d", "e", "f"]}
    config = train_config(student, checkpoint_interval=4)
    student.trainer.train(model, ids[:100], ids[100:], config, checkpoint_path=str(path), extra=extra)
    assert path.is_file(), f"no checkpoint at {path} after training with checkpoint_path"
    checkpoint = torch.load(path, weights_only=True)
    expected_keys = {"format", "step", "model", "optimizer", "train_config", "rng", "extra"}
    assert set(checkpoint) == expected_keys, f"the checkpoint's keys are {sorted(checkpoint)}"
    assert checkpoint["format"] == student.trainer.CHECKPOINT_FORMAT
    assert checkpoint["step"] == 12, f"the last checkpoint should say 12 steps were done, not {checkpoint['step']}"
    assert sorted(checkpoint["model"]) == ["bias", "table"], "checkpoint['model'] is the model's state_dict()"
    expect_close(checkpoint["model"]["table"], student.probe(parameters_by_name, model)["table"],
                 name="the checkpoint's table (the weights after the last step)", atol=0)
    assert {"state", "param_groups"} <= set(checkpoint["optimizer"]), "checkpoint['optimizer'] is its state_dict()"
    assert checkpoint["train_config"] == student.probe(fields_of, config), \
        "train_config is dataclasses.asdict(config)"
    assert set(checkpoint["rng"]) == {"torch", "batches"}, "rng holds the states of both generators"
    assert all(isinstance(state, torch.Tensor) and state.dtype == torch.uint8 for state in checkpoint["rng"].values())
    assert checkpoint["extra"] == extra, "extra must be stored as given"
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pt"], \
        f"files left next to the checkpoint: {sorted(p.name for p in path.parent.iterdir())}"


@points(2, hint="write to a temporary file in the same folder and os.replace it over the path; when saving fails, "
                "delete the temporary file and re-raise: the old checkpoint must survive whole")
def test_checkpoint_writes_are_atomic(student, tmp_path):
    path = tmp_path / "new_folder" / "checkpoint.pt"
    good = {"format": "test", "weights": torch.arange(6.0)}
    student.trainer.save_checkpoint(str(path), good)
    assert path.is_file(), "save_checkpoint did not create the file (create missing folders too)"
    assert torch.equal(torch.load(path, weights_only=True)["weights"], good["weights"])
    error = student.probe(save_something_unpicklable, student.trainer.save_checkpoint, str(path))
    assert error is not None, "saving an object that cannot be pickled should raise"
    assert path.is_file(), "the old checkpoint is gone after a failed save"
    try:
        survivor = torch.load(path, weights_only=True)
    except Exception as err:
        raise AssertionError(f"the old checkpoint is broken after a failed save ({type(err).__name__}): write to a "
                             "temporary file, then os.replace it over the path") from None
    assert torch.equal(survivor["weights"], good["weights"]), "the old checkpoint changed after a failed save"
    left = sorted(p.name for p in path.parent.iterdir())
    assert left == ["checkpoint.pt"], f"a failed save left files behind: {left}"


@points(3, hint="resume must restore everything the next step depends on: the weights, the optimiser's state, "
                "torch's RNG state and the batch generator's, and the step (so lr_at continues, not restarts)",
        builds_on=LOOP)
def test_resume_continues_exactly(student, generator, tmp_path):
    ids = random_ids(generator, 150)
    train_ids, val_ids = ids[:120], ids[120:]
    config = train_config(student, steps=10)
    whole = student.trainer.train(student.probe(table_lm, dropout=0.3, seed=1), train_ids, val_ids, config)
    path = str(tmp_path / "checkpoint.pt")
    first = student.trainer.train(student.probe(table_lm, dropout=0.3, seed=1), train_ids, val_ids, config,
                                  checkpoint_path=path, stop_after=4)
    assert list(first["step"]) == [0, 1, 2, 3], f"stop_after=4 should run steps 0..3, ran {first['step']}"
    assert torch.load(path, weights_only=True)["step"] == 4, "after stop_after=4 the checkpoint should say 4 steps"
    # A model with other weights: resuming must replace them with the checkpoint's.
    second = student.trainer.train(student.probe(table_lm, dropout=0.3, seed=99), train_ids, val_ids, config,
                                   checkpoint_path=path, resume=True)
    with hint("the resumed run must go on from the checkpoint's step (4), not start again at 0"):
        assert list(second["step"]) == list(range(4, 10)), f"the resumed run did steps {second['step']}"
    with hint("the resumed run's learning rates differ: lr_at the absolute step, with the schedule of config.steps"):
        assert second["lr"] == pytest.approx(whole["lr"][4:], rel=1e-9)
    assert first["loss"] == whole["loss"][:4], "the first 4 steps differ from the uninterrupted run"
    resumed, expected = torch.tensor(second["loss"]), torch.tensor(whole["loss"][4:])
    with hint("the first loss after resuming differs: restore the model's weights (load_state_dict) and both "
              "generators (torch.set_rng_state, batches.set_state) before the first step"):
        expect_close(resumed[:1], expected[:1], name="the first loss after resuming", atol=0, rtol=0)
    with hint("later losses differ: restore the optimiser's state (AdamW's running averages and step count) "
              "with optimizer.load_state_dict"):
        expect_close(resumed, expected, name="the losses after resuming", atol=0, rtol=0)


# --- divergence --------------------------------------------------------------------------------

@points(3, hint="check the loss (and the gradient norm) with math.isfinite / torch.isfinite every step, BEFORE "
                "optimizer.step(); raise TrainingDiverged naming the step and suggesting a lower learning rate or "
                "clipping; checkpoints written so far stay as they are",
        builds_on=LOOP)
def test_divergence_stops_with_advice(student, generator, tmp_path):
    ids = random_ids(generator, 120)
    calm = student.trainer.train(student.probe(unstable_lm), ids[:100], ids[100:],
                                 train_config(student, max_lr=0.5, min_lr=0.05))
    assert all(math.isfinite(loss) for loss in calm["loss"]), "at lr 0.5 this model trains without trouble"
    path = tmp_path / "checkpoint.pt"
    model = student.probe(unstable_lm)
    with pytest.raises(Exception) as raised:  # lr x 100
        student.trainer.train(model, ids[:100], ids[100:], train_config(student, max_lr=50.0, min_lr=5.0,
                              checkpoint_interval=1), checkpoint_path=str(path))
    error = raised.value
    name = type(error).__name__
    assert name == "TrainingDiverged" or "raised TrainingDiverged" in str(error), \
        f"a nan or inf loss should raise TrainingDiverged, got {name}: {error}"
    message = str(error).lower()
    for words in ("learning rate", "clip"):
        assert words in message, f"the message should suggest what to change ('{words}'): {error}"
    assert "step" in message, f"the message should say at which step it diverged: {error}"
    assert path.is_file(), "the last good checkpoint is missing"
    checkpoint = torch.load(path, weights_only=True)
    assert all(bool(torch.isfinite(t).all()) for t in checkpoint["model"].values()), \
        "the checkpoint holds nan or inf weights: check the loss before the update and save only good states"


# --- the stand-in models, and probes that run next to your code ------------------------------------

class TableLM(nn.Module):
    """Next-token logits from a table (one row per current token) plus a bias; records every call."""

    def __init__(self, dropout: float = 0.0, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.table = nn.Parameter(0.5 * torch.randn(V, V, generator=generator))
        self.bias = nn.Parameter(0.1 * torch.randn(V, generator=generator))
        self.dropout = nn.Dropout(dropout)
        self.calls = []

    def forward(self, idx, targets=None):
        self.calls.append({"training": self.training, "grad": torch.is_grad_enabled(), "B": idx.shape[0],
                           "T": idx.shape[1]})
        logits = self.dropout(self.table[idx]) + self.bias  # (B, T, V)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


class UnstableLM(TableLM):
    """A TableLM with a penalty exp(gain ** 2) that overflows once a large step throws gain far from 0."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.tensor([0.5]))

    def forward(self, idx, targets=None):
        logits, loss = super().forward(idx, targets)
        return logits, None if loss is None else loss + torch.exp(self.gain ** 2).sum()


def table_lm(dropout: float = 0.0, seed: int = 0) -> TableLM:
    return TableLM(dropout, seed)


def unstable_lm() -> UnstableLM:
    return UnstableLM()


def fields_of(config) -> dict:
    return dataclasses.asdict(config)


def set_mode(model, training: bool) -> None:
    model.train(training)


def mode_of(model) -> bool:
    return model.training


def calls_of(model) -> list:
    return model.calls


def records_of_training(train, model, train_ids, val_ids, config) -> list:
    records = []
    train(model, train_ids, val_ids, config, on_record=lambda record: records.append(dict(record)))
    return records


def save_something_unpicklable(save_checkpoint, path):
    """Try to save a checkpoint holding a function (which cannot be pickled); return the error's name."""
    try:
        save_checkpoint(path, {"format": "test", "weights": torch.zeros(3), "callback": lambda: None})
    except Exception as err:
        return type(err).__name__
    return None


def replay_training(train_ids, settings, *, constant_lr=False, clip=True, accumulate=False, decay_all=False) -> dict:
    """The documented loop, written with torch's own pieces; the keywords switch on common mistakes."""
    torch.manual_seed(settings["seed"])
    batches = torch.Generator().manual_seed(settings["seed"])
    model = TableLM(seed=3)
    decay = [model.table] + ([model.bias] if decay_all else [])
    groups = [{"params": decay, "weight_decay": settings["weight_decay"]}]
    if not decay_all:
        groups.append({"params": [model.bias], "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=settings["max_lr"], betas=(settings["beta1"], settings["beta2"]))
    out = {"lr": [], "loss": [], "grad_norm": []}
    steps, warmup = settings["steps"], settings["warmup_steps"]
    T, n = settings["block_size"], train_ids.numel()
    for step in range(steps):
        if step < warmup:
            lr = settings["max_lr"] * (step + 1) / warmup
        else:
            progress = (step - warmup) / (steps - warmup)
            lr = settings["min_lr"] + (settings["max_lr"] - settings["min_lr"]) * 0.5 * (1 + math.cos(math.pi * progress))
        if not constant_lr:
            for group in optimizer.param_groups:
                group["lr"] = lr
        starts = torch.randint(0, n - T, (settings["batch_size"],), generator=batches)  # step 02's get_batch
        x = train_ids[starts[:, None] + torch.arange(T)]
        y = train_ids[starts[:, None] + torch.arange(T) + 1]
        _, loss = model(x, y)
        if not accumulate:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip and settings["grad_clip"] > 0:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), settings["grad_clip"])
        else:
            norm = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
        optimizer.step()
        out["lr"].append(lr)
        out["loss"].append(loss.item())
        out["grad_norm"].append(float(norm))
    out["table"], out["bias"] = model.table.detach().clone(), model.bias.detach().clone()
    return out

