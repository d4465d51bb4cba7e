"""Grading suite for step 09, part 3: evaluation, the training loop, checkpoints (``trainer.py``).

The models here are small stand-ins defined at the bottom of this file (a table of
next-token logits, like step 00's), so this step is graded on its own: your loop must work
for any model with ``forward(x, y) -> (logits, loss)``. The central test replays the loop
documented in ``trainer.py`` here, with torch's own AdamW and clipping, and compares every
loss, every learning rate and the final weights with your run.
"""

import dataclasses
import math
import os
import re
from pathlib import Path

import pytest
import torch
import torch._dynamo  # noqa: F401  (torch.optim imports it on first use: once here spares every worker the wait)
import torch.nn as nn
import torch.nn.functional as F

from grader import hint, points
# Your checkpoints are read like every reply from your code: size, compression and nesting are
# checked before torch's restricted unpickler sees them.
from grader.wire import load_saved_file
from grader.checks import expect_close
from grader.probes import parameters_by_name

V, BLOCK, BATCH = 6, 8, 4
GET_BATCH = {"step02 get_batch": "step02/test_dataset.py::test_get_batch_matches_its_starts"}
EVALUATE = {"evaluate": "test_evaluate_scores_every_token_once"}
LOOP = {**GET_BATCH, **EVALUATE, "train": "test_train_matches_a_replay_of_the_documented_loop"}
CHECKPOINTS = {**LOOP, "the checkpoint": "test_checkpoint_holds_the_documented_state"}
DROPOUT = 0.2


def train_config(student, **changes):
    # Not the defaults: a loop that ignores a setting shows.
    settings = dict(steps=12, batch_size=BATCH, block_size=BLOCK, max_lr=0.05, min_lr=0.005, warmup_steps=3,
                    weight_decay=0.2, beta1=0.8, beta2=0.95, grad_clip=0.1, eval_interval=5,
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
        with hint("evaluate returns plain Python numbers: floats for loss, perplexity and bits_per_token "
                  "(loss.item()), an int for tokens, not tensors"):
            kinds = {key: type(result[key]).__name__ for key in ("loss", "perplexity", "bits_per_token", "tokens")}
            assert kinds == {"loss": "float", "perplexity": "float", "bits_per_token": "float", "tokens": "int"}, kinds
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
        weights = student.probe(parameters_by_name, model)
        result = student.trainer.evaluate(model, ids, BLOCK, 2)
        with hint("the loss is not the model's loss with dropout off: evaluate must call model.eval() first"):
            expected = per_token_loss(weights["table"], weights["bias"], ids).mean()
            expect_close(torch.tensor(float(result["loss"])), expected, name="the loss evaluate reports")
        calls = student.probe(calls_of, model)
        assert calls, "evaluate never called the model"
        assert all(not call["training"] for call in calls), "the model ran in training mode (dropout on) in evaluate"
        assert all(not call["grad"] for call in calls), "evaluate ran the model with gradients enabled: use no_grad"
        assert all(call["T"] <= BLOCK and call["B"] <= 2 for call in calls), \
            f"windows must be at most block_size={BLOCK} long and batches at most batch_size=2: {calls}"
        # The mode the model is left in, seen from its behaviour: with dropout 0.5 on, two runs differ.
        probe_ids = ids[:BLOCK].unsqueeze(0)
        after = not torch.equal(model(probe_ids)[0], model(probe_ids)[0])
        with hint("the model's mode is not restored: remember was_training = model.training before switching to "
                  "eval mode, and call model.train(was_training) at the end"):
            assert after == start_in_training_mode, \
                f"the model was in {'training' if start_in_training_mode else 'eval'} mode before evaluate and " \
                f"in {'training' if after else 'eval'} mode after it: restore the mode it was in"


# --- the training loop ------------------------------------------------------------------------

@points(5, hint="the loop differs from the documented one: per step set lr_at(step) on every group, get_batch with "
                "the batch generator, loss, zero_grad, backward, clip (or measure) the gradient norm, "
                "optimizer.step(); the optimiser from configure_optimizer; both generators seeded with config.seed",
        builds_on={**GET_BATCH, **EVALUATE, "lr_at": "test_schedule_values",
                   "global_grad_norm": "test_global_grad_norm", "clip_grad_norm": "test_clipping_matches_torch",
                   "configure_optimizer": "test_optimizer_groups"})
def test_train_matches_a_replay_of_the_documented_loop(student, generator):
    ids = random_ids(generator, 200)
    train_ids, val_ids = ids[:160], ids[160:]
    config = train_config(student)
    settings = student.probe(fields_of, config)
    model = student.probe(table_lm, dropout=DROPOUT, seed=3)
    student.probe(set_mode, model, False)  # it arrives in eval mode: train must switch dropout on
    history = student.trainer.train(model, train_ids, val_ids, config)
    steps = settings["steps"]
    with hint("train must call model.train() first: the model may arrive in eval mode, with dropout off"):
        training_calls = [call for call in student.probe(calls_of, model) if call["grad"]]
        assert training_calls and all(call["training"] for call in training_calls), \
            "the model ran its training steps in eval mode"
    assert isinstance(history, dict) and {"step", "loss", "lr", "grad_norm", "evals"} <= set(history), \
        f"train returns a dict with step, loss, lr, grad_norm and evals, got {type(history).__name__}"
    assert list(history["step"]) == list(range(steps)), f"history['step'] should be 0..{steps - 1}"
    with hint("record loss.item(), a Python float: a tensor in the history keeps its whole graph alive"):
        assert all(type(loss) is float for loss in history["loss"]), \
            f"history['loss'] holds {type(history['loss'][0]).__name__}, not float"
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
    mistakes["the batches come from torch's global generator: draw them from a torch.Generator of their own "
             "(seeded with config.seed), passed to get_batch"] = replay_training(train_ids, settings,
                                                                                 global_batches=True)["loss"]
    mistakes["the optimiser ignores the config: pass weight_decay and betas=(beta1, beta2) to "
             "configure_optimizer"] = replay_training(train_ids, settings, default_optimizer=True)["loss"]
    # A correct loop matches the replay to ~2e-7: the tolerance is tight enough for a wrong beta2.
    expect_close(torch.tensor(history["loss"]), torch.tensor(replay["loss"]), name="the losses of the run",
                 atol=2e-6, rtol=1e-5, mistakes={hint_: torch.tensor(losses) for hint_, losses in mistakes.items()})
    with hint("grad_norm is the global gradient norm BEFORE clipping (what clip_grad_norm returns)"):
        expect_close(torch.tensor(history["grad_norm"]), torch.tensor(replay["grad_norm"]), name="the gradient norms",
                     atol=1e-5)
    final = student.probe(parameters_by_name, model)
    expect_close(final["table"], replay["table"], name="the trained table", atol=1e-5)
    unclipped = student.probe(table_lm, dropout=DROPOUT, seed=3)
    with hint("grad_clip = 0 turns clipping off: then only measure the norm with global_grad_norm (clip_grad_norm "
              "rejects a max_norm of 0)"):
        off = student.trainer.train(unclipped, train_ids, val_ids, train_config(student, grad_clip=0.0))
        expect_close(torch.tensor(off["loss"]), torch.tensor(replay_training(train_ids, {**settings, "grad_clip": 0.0},
                                                                              clip=False)["loss"]),
                     name="the losses with grad_clip=0", atol=2e-6, rtol=1e-5)
        assert min(off["grad_norm"]) > 0, "with grad_clip=0 the gradient norm is still measured and recorded"
    with hint("evaluate on the validation split every eval_interval steps and after the last step, recording "
              "{'step': steps done, 'val_loss', 'perplexity', 'bits_per_token'}"):
        evals = history["evals"]
        assert [e["step"] for e in evals] == [5, 10, 12], f"evaluations at {[e['step'] for e in evals]}"
        expected_val = per_token_loss(replay["table"], replay["bias"], val_ids).mean()
        expect_close(torch.tensor(float(evals[-1]["val_loss"])), expected_val, name="the last val_loss", atol=1e-5)
    records = student.probe(records_of_training, student.trainer.train, student.probe(table_lm), train_ids, val_ids,
                            train_config(student, steps=3, eval_interval=2))
    with hint("on_record must be called with each step's record as it is made, and with each evaluation"):
        assert [sorted(r) for r in records] == [["grad_norm", "loss", "lr", "step"]] * 2 + [
            ["bits_per_token", "perplexity", "step", "val_loss"], ["grad_norm", "loss", "lr", "step"],
            ["bits_per_token", "perplexity", "step", "val_loss"]], f"on_record received {records}"


@points(2, hint="seed torch's global generator (torch.manual_seed(config.seed): dropout draws from it) and a "
                "separate torch.Generator for the batches, both at the start of train",
        builds_on=GET_BATCH)  # not on the replay test: a run can be reproducible even when it differs from it
def test_same_seed_same_losses(student, generator):
    ids = random_ids(generator, 120)
    runs = {}
    for run, seed in [("first", 0), ("second", 0), ("other seed", 1)]:
        model = student.probe(table_lm, dropout=0.3, seed=5)
        runs[run] = student.trainer.train(model, ids[:100], ids[100:], train_config(student, seed=seed))["loss"]
    assert runs["first"] == runs["second"], "two runs with the same seed gave different losses: " \
        f"{runs['first'][:4]}... vs {runs['second'][:4]}..."
    assert runs["first"] != runs["other seed"], "seed 1 gave exactly the losses of seed 0: config.seed is not used"


@points(1, hint="give get_batch the data's device: get_batch(..., device=train_ids.device). The batches must be "
                "made where the data and the model are: with course train --device cuda, a batch left on the CPU "
                "stops the first step with 'Expected all tensors to be on the same device'",
        builds_on=GET_BATCH)
def test_batches_are_made_on_the_device_of_the_data(student, generator):
    ids = random_ids(generator, 120)
    devices = student.probe(devices_given_to_get_batch, student.trainer.train, student.probe(table_lm), ids[:100],
                            ids[100:], train_config(student, steps=3))
    assert devices, "train never called your step 02 get_batch"
    assert devices == ["cpu"] * len(devices), f"get_batch was given the devices {devices} (None: no device at " \
        "all, so its default 'cpu' even when the data is on a GPU)"


# --- checkpoints -----------------------------------------------------------------------------

@points(2, hint="a checkpoint is one dict with exactly the documented keys: format, step, model, optimizer, "
                "train_config, rng {'torch', 'cuda', 'batches'} and extra",
        builds_on=LOOP)
def test_checkpoint_holds_the_documented_state(student, generator, tmp_path):
    ids = random_ids(generator, 120)
    model = student.probe(table_lm)
    path = tmp_path / "run" / "checkpoint.pt"
    extra = {"model": {"kind": "table", "vocab_size": V}, "tokenizer": ["a", "b", "c", "d", "e", "f"]}
    config = train_config(student, checkpoint_interval=4)
    student.trainer.train(model, ids[:100], ids[100:], config, checkpoint_path=str(path), extra=extra)
    assert path.is_file(), f"no checkpoint at {path} after training with checkpoint_path"
    with hint("save plain data: model.state_dict() and optimizer.state_dict(), not the objects themselves (a "
              "checkpoint is loaded with weights_only=True, which refuses arbitrary objects)"):
        checkpoint = load_saved_file(path)
    expected_keys = {"format", "step", "model", "optimizer", "train_config", "rng", "extra"}
    assert set(checkpoint) == expected_keys, f"the checkpoint's keys are {sorted(checkpoint)}"
    assert checkpoint["format"] == student.trainer.CHECKPOINT_FORMAT
    with hint("'step' is the number of steps DONE (the step to resume at): 12 after steps 0..11"):
        assert checkpoint["step"] == 12, f"the last checkpoint should say 12 steps were done, not {checkpoint['step']}"
    assert sorted(checkpoint["model"]) == ["bias", "table"], "checkpoint['model'] is the model's state_dict()"
    with hint("save after optimizer.step(): the checkpoint must hold the weights after the last step"):
        expect_close(checkpoint["model"]["table"], student.probe(parameters_by_name, model)["table"],
                     name="the checkpoint's table (the weights after the last step)", atol=0)
    assert {"state", "param_groups"} <= set(checkpoint["optimizer"]), "checkpoint['optimizer'] is its state_dict()"
    assert checkpoint["train_config"] == student.probe(fields_of, config), \
        "train_config is dataclasses.asdict(config)"
    with hint("rng holds torch's generator ('torch'), the GPU's generators ('cuda': torch.cuda.get_rng_state_all(), "
              "an empty list here; on a GPU dropout draws from them) and the batch generator ('batches')"):
        assert set(checkpoint["rng"]) == {"torch", "cuda", "batches"}, f"rng holds {sorted(checkpoint['rng'])}"
        states = [checkpoint["rng"]["torch"], checkpoint["rng"]["batches"], *checkpoint["rng"]["cuda"]]
        assert all(isinstance(state, torch.Tensor) and state.dtype == torch.uint8 for state in states), \
            "a generator's state is a uint8 tensor (get_rng_state(), get_state())"
        assert isinstance(checkpoint["rng"]["cuda"], list), "rng['cuda'] is the list get_rng_state_all() returns"
        assert len(checkpoint["rng"]["cuda"]) == torch.cuda.device_count(), "one state per GPU"
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
    assert torch.equal(load_saved_file(path)["weights"], good["weights"])
    error = student.probe(save_something_unpicklable, student.trainer.save_checkpoint, str(path))
    assert error is not None, "saving an object that cannot be pickled should raise"
    assert path.is_file(), "the old checkpoint is gone after a failed save"
    try:
        survivor = load_saved_file(path)
    except Exception as err:
        raise AssertionError(f"the old checkpoint is broken after a failed save ({type(err).__name__}): write to a "
                             "temporary file, then os.replace it over the path") from None
    assert torch.equal(survivor["weights"], good["weights"]), "the old checkpoint changed after a failed save"
    left = sorted(p.name for p in path.parent.iterdir())
    assert left == ["checkpoint.pt"], f"a failed save left files behind: {left}"
    renames = student.probe(renames_made_by, student.trainer.save_checkpoint, str(path))
    with hint("create the temporary file in the checkpoint's own folder (tempfile.mkstemp(dir=path.parent)): a "
              "rename from another file system (/tmp is often one) is a copy, not atomic, or fails"):
        assert renames, "save_checkpoint never renamed a file into place (os.replace or os.rename)"
        assert all(Path(source).parent == Path(target).parent for source, target in renames), \
            f"renamed from another folder: {renames}"


@points(3, hint="resume must restore everything the next step depends on: the weights, the optimiser's state, "
                "torch's RNG state and the batch generator's, and the step (so lr_at continues, not restarts)",
        builds_on=CHECKPOINTS)
def test_resume_continues_exactly(student, generator, tmp_path):
    ids = random_ids(generator, 150)
    train_ids, val_ids = ids[:120], ids[120:]
    config = train_config(student, steps=10)
    whole = student.trainer.train(student.probe(table_lm, dropout=0.3, seed=1), train_ids, val_ids, config)
    path = str(tmp_path / "checkpoint.pt")
    first = student.trainer.train(student.probe(table_lm, dropout=0.3, seed=1), train_ids, val_ids, config,
                                  checkpoint_path=path, stop_after=6)
    assert list(first["step"]) == list(range(6)), f"stop_after=6 should run steps 0..5, ran {first['step']}"
    with hint("stop_after interrupts the run, it does not shorten it: lr_at still spans config.steps"):
        assert first["lr"] == pytest.approx(whole["lr"][:6], rel=1e-9), "the rates before the interruption differ"
    with hint("save a checkpoint when the run ends, also when stop_after ends it (done == end, the end being "
              "min(stop_after, config.steps)): that checkpoint is what a resume starts from"):
        assert load_saved_file(path)["step"] == 6, "after stop_after=6 the checkpoint should say 6 steps"
    with hint("resume=True must load the checkpoint: a missing file is an error (FileNotFoundError), never a "
              "silent fresh start"):
        with pytest.raises(Exception):
            student.trainer.train(student.probe(table_lm), train_ids, val_ids, config,
                                  checkpoint_path=str(tmp_path / "missing.pt"), resume=True)
    # Models with other weights: resuming must replace them with the checkpoint's.
    second = student.trainer.train(student.probe(table_lm, dropout=0.3, seed=99), train_ids, val_ids, config,
                                   checkpoint_path=path, resume=True, stop_after=8)
    with hint("the resumed run must go on from the checkpoint's step: 'step' counts the steps done (6), which is "
              "also the next step to run (not 0, not step + 1)"):
        assert list(second["step"])[:1] == [6], f"the resumed run did steps {second['step']}"
    with hint("stop_after counts the steps of the whole run, resumed or not: resuming at step 6 with stop_after=8 "
              "runs steps 6 and 7 (the loop ends at min(stop_after, config.steps), not start + stop_after)"):
        assert list(second["step"]) == [6, 7], f"resuming at 6 with stop_after=8 did steps {second['step']}"
        assert load_saved_file(path)["step"] == 8, "after stop_after=8 the checkpoint should say 8 steps"
    third = student.trainer.train(student.probe(table_lm, dropout=0.3, seed=98), train_ids, val_ids, config,
                                  checkpoint_path=path, resume=True)
    assert list(third["step"]) == [8, 9], f"the second resume did steps {third['step']}"
    with hint("the resumed run's learning rates differ: lr_at the absolute step, with the schedule of config.steps"):
        assert second["lr"] + third["lr"] == pytest.approx(whole["lr"][6:], rel=1e-9)
    assert first["loss"] == whole["loss"][:6], "the first 6 steps differ from the uninterrupted run"
    resumed, expected = torch.tensor(second["loss"] + third["loss"]), torch.tensor(whole["loss"][6:])
    with hint("the first loss after resuming differs: restore the model's weights (load_state_dict) and both "
              "generators (torch.set_rng_state, batches.set_state) before the first step"):
        expect_close(resumed[:1], expected[:1], name="the first loss after resuming", atol=0, rtol=0)
    with hint("later losses differ: restore the optimiser's state (AdamW's running averages and step count) "
              "with optimizer.load_state_dict"):
        expect_close(resumed, expected, name="the losses after resuming", atol=0, rtol=0)


@points(2, hint="save a checkpoint each time the steps done reach a multiple of checkpoint_interval "
                "((step + 1) % checkpoint_interval == 0), with 'step' the steps done, not only at the end: a run "
                "that crashes must lose fewer than checkpoint_interval steps",
        builds_on={**CHECKPOINTS, "resume": "test_resume_continues_exactly"})
def test_a_crash_loses_only_the_steps_since_the_last_checkpoint(student, generator, tmp_path):
    ids = random_ids(generator, 150)
    train_ids, val_ids = ids[:120], ids[120:]
    config = train_config(student, steps=10, checkpoint_interval=3)
    whole = student.trainer.train(student.probe(table_lm, dropout=0.3, seed=1), train_ids, val_ids, config)
    path = tmp_path / "checkpoint.pt"
    # The same run, but the process "dies" in the forward pass of step 8 (0-based), after 8 steps done.
    with pytest.raises(Exception) as raised:
        student.trainer.train(student.probe(crashing_lm, crash_at=8, dropout=0.3, seed=1), train_ids, val_ids,
                              config, checkpoint_path=str(path))
    assert "simulated crash" in str(raised.value), f"the crash should end the run as it is, got: {raised.value}"
    assert path.is_file(), "no checkpoint survived the crash: save every checkpoint_interval steps, not only at the end"
    saved = load_saved_file(path)["step"]
    assert saved == 6, (f"with checkpoint_interval=3 and 8 steps done, the last checkpoint should be the one of 6 "
                        f"steps done; it says {saved}")
    resumed = student.trainer.train(student.probe(table_lm, dropout=0.3, seed=99), train_ids, val_ids, config,
                                    checkpoint_path=str(path), resume=True)
    assert list(resumed["step"]) == list(range(6, 10)), f"resuming after the crash did steps {resumed['step']}"
    expect_close(torch.tensor(resumed["loss"]), torch.tensor(whole["loss"][6:]),
                 name="the losses after resuming from the crash's checkpoint", atol=0, rtol=0)
    with hint("save after the last step too, whatever checkpoint_interval (10 steps is no multiple of 3): "
              "(step + 1) % checkpoint_interval == 0 or step + 1 == end"):
        saved = load_saved_file(path)["step"]
        assert saved == 10, f"the run ended after 10 steps; the checkpoint says {saved}"


# --- divergence --------------------------------------------------------------------------------

@points(3, hint="check the loss and the gradient norm with math.isfinite / torch.isfinite every step, BEFORE "
                "optimizer.step(); raise TrainingDiverged naming the step and suggesting a lower learning rate or "
                "clipping; checkpoints written so far stay as they are",
        builds_on={**CHECKPOINTS, "checkpoint_interval": "test_a_crash_loses_only_the_steps_since_the_last_checkpoint"})
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
    assert re.search(r"learning.rate|\blr\b|max_lr", message), \
        f"the message should suggest a lower learning rate: {error}"
    assert "clip" in message, f"the message should suggest gradient clipping: {error}"
    with hint("save every checkpoint_interval steps (here 1): the checkpoint of the steps before the divergence "
              "must be on disk"):
        assert path.is_file(), "the last good checkpoint is missing"
    checkpoint = load_saved_file(path)
    assert all(bool(torch.isfinite(t).all()) for t in checkpoint["model"].values()), \
        "the checkpoint holds nan or inf weights: check the loss with math.isfinite / torch.isfinite (isnan alone " \
        "misses inf) before the update, and save only good states"
    with hint("the check comes after optimizer.step(): the model's weights were already updated with the bad "
              "gradient. Check the loss right after the forward pass and the norm right after backward()"):
        weights = student.probe(parameters_by_name, model)
        assert all(bool(torch.isfinite(w).all()) for w in weights.values()), "the model's weights are nan or inf"
    # A finite loss with an infinite gradient: only the gradient-norm check catches it, on step 0.
    bomb = student.probe(gradient_bomb_lm)
    before = student.probe(parameters_by_name, bomb)
    with hint("check the gradient norm too (math.isfinite(norm)) before optimizer.step(): a finite loss can still "
              "have an infinite gradient"):
        with pytest.raises(Exception) as raised:
            student.trainer.train(bomb, ids[:100], ids[100:], train_config(student))
        assert "TrainingDiverged" in type(raised.value).__name__ + str(raised.value), \
            f"an infinite gradient should raise TrainingDiverged, got {type(raised.value).__name__}: {raised.value}"
        after = student.probe(parameters_by_name, bomb)
        assert all(torch.equal(before[name], after[name]) for name in before), \
            "the weights changed: the update ran with an infinite gradient"
    # The other way round: an infinite loss whose gradients stay finite (the inf is a constant term).
    with hint("check the loss itself (torch.isfinite(loss)) right after the forward pass: an infinite loss can come "
              "with finite gradients, and then the gradient-norm check alone lets the run go on"):
        with pytest.raises(Exception) as raised:
            student.trainer.train(student.probe(infinite_loss_lm, from_step=3), ids[:100], ids[100:],
                                  train_config(student, checkpoint_interval=1), checkpoint_path=str(path))
        assert "TrainingDiverged" in type(raised.value).__name__ + str(raised.value), \
            f"an infinite loss should raise TrainingDiverged, got {type(raised.value).__name__}: {raised.value}"
    # Counted from 0 the step that diverged is 3; counted from 1 it is the 4th.
    assert re.search(r"step\D{0,3}[34]\b", str(raised.value).lower()), \
        f"the message should name the step that diverged (3): {raised.value}"
    # The last good checkpoint is the state after 3 steps, as an uninterrupted run had it.
    with hint("keep the last good checkpoint as it was: saving again when the run diverges stores a state that "
              "no good step made (generators already moved on, or a step count that never finished)"):
        saved = load_saved_file(path)["step"]
        assert saved == 3, f"diverged in step 3: the checkpoint should say 3 steps done, it says {saved}"
        whole = student.trainer.train(student.probe(table_lm), ids[:100], ids[100:], train_config(student))
        resumed = student.trainer.train(student.probe(table_lm, seed=99), ids[:100], ids[100:],
                                        train_config(student, checkpoint_interval=1), checkpoint_path=str(path),
                                        resume=True)
        expect_close(torch.tensor(resumed["loss"]), torch.tensor(whole["loss"][3:]), atol=0, rtol=0,
                     name="the losses after resuming from the last good checkpoint")


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

    def training_steps_seen(self) -> int:
        """The forward passes made so far in training mode: one per training step."""
        return sum(call["training"] for call in self.calls)

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


class GradientBombLM(TableLM):
    """A TableLM whose loss has a term sqrt(z) at z = 0: worth 0, with an infinite gradient."""

    def __init__(self):
        super().__init__()
        self.zero = nn.Parameter(torch.zeros(1))

    def forward(self, idx, targets=None):
        logits, loss = super().forward(idx, targets)
        return logits, None if loss is None else loss + 1e-3 * torch.sqrt(self.zero).sum()


class CrashingLM(TableLM):
    """A TableLM that raises in the forward pass of training step ``crash_at`` (0-based), like a process
    that is killed there."""

    def __init__(self, crash_at: int, dropout: float, seed: int):
        super().__init__(dropout, seed)
        self.crash_at = crash_at

    def forward(self, idx, targets=None):
        if self.training and self.training_steps_seen() == self.crash_at:
            raise RuntimeError(f"simulated crash in training step {self.crash_at}")
        return super().forward(idx, targets)


class InfiniteLossLM(TableLM):
    """A TableLM whose loss gains a constant +inf from training step ``from_step`` on: the loss is
    infinite, yet every gradient stays finite."""

    def __init__(self, from_step: int):
        super().__init__()
        self.from_step = from_step

    def forward(self, idx, targets=None):
        steps_before = self.training_steps_seen()
        logits, loss = super().forward(idx, targets)
        if loss is not None and self.training and steps_before >= self.from_step:
            loss = loss + float("inf")
        return logits, loss


def crashing_lm(crash_at: int, dropout: float, seed: int) -> CrashingLM:
    return CrashingLM(crash_at, dropout, seed)


def infinite_loss_lm(from_step: int) -> InfiniteLossLM:
    return InfiniteLossLM(from_step)


def unstable_lm() -> UnstableLM:
    return UnstableLM()


def gradient_bomb_lm() -> GradientBombLM:
    return GradientBombLM()


def renames_made_by(save_checkpoint, path) -> list:
    """The (source, target) of every os.replace / os.rename while saving a checkpoint to ``path``."""
    calls, replace, rename = [], os.replace, os.rename

    def record(original):
        def wrapper(source, target, *args, **kwargs):
            calls.append((str(source), str(target)))
            return original(source, target, *args, **kwargs)
        return wrapper

    os.replace, os.rename = record(replace), record(rename)
    try:
        save_checkpoint(path, {"format": "test", "weights": torch.ones(2)})
    finally:
        os.replace, os.rename = replace, rename
    return calls


def fields_of(config) -> dict:
    return dataclasses.asdict(config)


def set_mode(model, training: bool) -> None:
    model.train(training)


def calls_of(model) -> list:
    return model.calls


def records_of_training(train, model, train_ids, val_ids, config) -> list:
    records = []
    train(model, train_ids, val_ids, config, on_record=lambda record: records.append(dict(record)))
    return records


def devices_given_to_get_batch(train, model, train_ids, val_ids, config) -> list:
    """Train, recording the ``device`` of every call of step 02's get_batch (by its code, under any name):
    the device's type, or None where the call left it at its default."""
    import inspect
    import sys

    trainer = sys.modules[train.__module__]
    dataset = sys.modules[f"{trainer.__name__.rsplit('.', 2)[0]}.step02.dataset"]
    code = inspect.unwrap(dataset.get_batch).__code__
    default = inspect.signature(dataset.get_batch).parameters["device"].default
    devices = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code is code:
            device = frame.f_locals.get("device")
            try:
                devices.append(None if device is default else torch.device(device).type)
            except (TypeError, RuntimeError):
                devices.append(repr(device)[:40])

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        train(model, train_ids, val_ids, config)
    finally:
        sys.setprofile(previous)
    return devices


def save_something_unpicklable(save_checkpoint, path):
    """Try to save a checkpoint holding a function (which cannot be pickled); return the error's name."""
    try:
        save_checkpoint(path, {"format": "test", "weights": torch.zeros(3), "callback": lambda: None})
    except Exception as err:
        return type(err).__name__
    return None


def replay_training(train_ids, settings, *, constant_lr=False, clip=True, accumulate=False, decay_all=False,
                    global_batches=False, default_optimizer=False) -> dict:
    """The documented loop, written with torch's own pieces; the keywords switch on common mistakes."""
    torch.manual_seed(settings["seed"])
    batches = None if global_batches else torch.Generator().manual_seed(settings["seed"])
    model = TableLM(dropout=DROPOUT, seed=3)
    decay = [model.table] + ([model.bias] if decay_all else [])
    weight_decay, betas = settings["weight_decay"], (settings["beta1"], settings["beta2"])
    if default_optimizer:
        weight_decay, betas = 0.1, (0.9, 0.99)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if not decay_all:
        groups.append({"params": [model.bias], "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=settings["max_lr"], betas=betas)
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

