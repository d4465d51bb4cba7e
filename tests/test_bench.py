"""What the Shakespeare benchmark adds to the reference: speed-ups that must not change what it trains,
and a learning-rate schedule timed by the clock."""

import math
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import train_shakespeare  # noqa: E402

from course import runs  # noqa: E402


def test_dropout_from_random_words_drops_a_fraction_p_and_rescales_the_rest():
    torch.manual_seed(0)
    dropout = train_shakespeare.DropoutFromRandomWords(0.1).train()
    x = torch.full((1000, 1001), 3.0)  # an element count that is not a multiple of 4
    y = dropout(x)
    dropped = (y == 0).double().mean().item()
    # 1,001,000 draws: the standard error of the rate is 0.0003.
    assert abs(dropped - 0.1) < 0.0015
    assert torch.allclose(y[y != 0], torch.tensor(3.0 / 0.9), rtol=1e-4)  # 1 / 0.9 for p rounded to 2**-16
    assert y.shape == x.shape and y.dtype == x.dtype


def test_dropout_from_random_words_draws_a_new_independent_mask_each_call():
    torch.manual_seed(0)
    dropout = train_shakespeare.DropoutFromRandomWords(0.5).train()
    first, second = dropout(torch.ones(200_000)) == 0, dropout(torch.ones(200_000)) == 0
    both = (first & second).double().mean().item()
    assert abs(both - 0.25) < 0.01
    # Neighbours come from the same 64-bit word: they must not be correlated either.
    assert abs((first[:-1] & first[1:]).double().mean().item() - 0.25) < 0.01


def test_dropout_from_random_words_does_nothing_in_eval_mode_or_at_p_0_and_drops_all_at_p_1():
    x = torch.randn(4, 8)
    assert torch.equal(train_shakespeare.DropoutFromRandomWords(0.3).eval()(x), x)
    assert torch.equal(train_shakespeare.DropoutFromRandomWords(0.0).train()(x), x)
    assert torch.equal(train_shakespeare.DropoutFromRandomWords(1.0).train()(x), torch.zeros_like(x))
    with pytest.raises(ValueError, match="between 0 and 1"):
        train_shakespeare.DropoutFromRandomWords(1.5)


def test_dropout_from_random_words_keeps_the_expectation_for_the_rounded_p():
    # p = 0.1 drops 6554 of every 65536 draws: the rest are scaled by 65536 / 58982, not by 1 / 0.9.
    dropout = train_shakespeare.DropoutFromRandomWords(0.1)
    assert dropout.scale == 65536 / 58982


def test_fast_training_replaces_every_dropout_and_keeps_the_weights():
    settings = runs.settings_for("tiny", {"dropout": 0.2})
    model = runs.build_model("transformer", 12, settings, use_solutions=True)
    weights = {name: value.clone() for name, value in model.state_dict().items()}
    fast = train_shakespeare.FastTraining(model, compile=False, bf16=False)
    modules = list(fast.model.modules())
    replacements = [module for module in modules if isinstance(module, train_shakespeare.DropoutFromRandomWords)]
    assert not any(isinstance(module, torch.nn.Dropout) for module in modules)
    assert replacements and all(module.p == 0.2 for module in replacements)
    assert fast.state_dict().keys() == weights.keys()
    assert all(torch.equal(fast.state_dict()[name], value) for name, value in weights.items())


def test_fused_adamw_takes_the_same_step_as_the_reference_optimizer():
    trainer = runs.load("step09", "trainer", True)
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.LayerNorm(5))
    fused = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.LayerNorm(5))
    fused.load_state_dict(reference.state_dict())
    plain_optimizer = trainer.configure_optimizer(reference, 1e-2, 0.1, (0.8, 0.95))
    fused_optimizer = train_shakespeare.fused_adamw(trainer.configure_optimizer)(fused, 1e-2, 0.1, (0.8, 0.95))
    assert all(group["fused"] for group in fused_optimizer.param_groups)
    for plain_group, fused_group in zip(plain_optimizer.param_groups, fused_optimizer.param_groups, strict=True):
        for key in ("lr", "betas", "weight_decay", "eps"):
            assert plain_group[key] == fused_group[key]
        assert [p.shape for p in plain_group["params"]] == [p.shape for p in fused_group["params"]]
    x = torch.randn(7, 6)
    for model, optimizer in ((reference, plain_optimizer), (fused, fused_optimizer)):
        for _ in range(3):
            optimizer.zero_grad()
            model(x).pow(2).sum().backward()
            optimizer.step()
    for plain, fast in zip(reference.parameters(), fused.parameters(), strict=True):
        assert torch.allclose(plain, fast, atol=1e-6)


@pytest.mark.parametrize("p", [0.1, 0.25])
def test_dropout_from_random_words_rounds_p_to_a_multiple_of_2_to_the_minus_16(p):
    dropout = train_shakespeare.DropoutFromRandomWords(p)
    assert abs((dropout.threshold + 2**15) / 2**16 - p) <= 2**-17


def test_clock_schedule_warms_up_by_steps_then_decays_with_the_share_of_the_budget_used():
    lr_at = runs.load("step09", "optimization", True).lr_at
    now = [0.0]
    schedule = train_shakespeare.ClockSchedule(lr_at, lambda: now[0], budget=100.0)
    rates = dict(max_lr=1e-3, min_lr=1e-5, warmup_steps=10, total_steps=500)
    # The warmup is step 09's, counted in steps, whatever the clock says.
    now[0] = 5.0
    assert [schedule(step, **rates) for step in range(10)] == [lr_at(step, **rates) for step in range(10)]
    # The warmup ended at 20 s: the decay spreads over the 80 s left, whatever the step count.
    now[0] = 20.0
    assert schedule(10, **rates) == pytest.approx(1e-3)
    now[0] = 60.0
    assert schedule(11, **rates) == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-5)  # halfway: the cosine's middle
    assert schedule(4000, **rates) == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-5)
    now[0] = 80.0
    assert schedule(12, **rates) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 0.75)), rel=1e-5)
    for end in (100.0, 130.0):  # at the end of the budget and past it: the floor
        now[0] = end
        assert schedule(13, **rates) == pytest.approx(1e-5)


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (8, 8)])
def test_float32_orthogonalisation_is_torchs_newton_schulz_iteration(shape):
    import torch.optim._muon as muon_module

    coefficients, steps, eps = (3.4445, -4.775, 2.0315), 5, 1e-7
    grad = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    ours = train_shakespeare.orthogonalize_in_float32(grad, coefficients, steps, eps)
    torchs = muon_module._zeropower_via_newtonschulz(grad, coefficients, steps, eps)  # in bfloat16
    assert ours.dtype == torch.float32 and ours.shape == grad.shape
    assert torch.allclose(ours, torchs.float(), atol=0.05)
    # What the iteration is for: every singular value pushed near 1 (it stops within about 0.3 of it).
    singular_values = torch.linalg.svdvals(ours)
    assert singular_values.min() > 0.6 and singular_values.max() < 1.3


def tiny_gpt():
    settings = runs.settings_for("small", {"n_layer": 2, "n_embd": 16, "n_head": 2, "block_size": 8})
    torch.manual_seed(0)
    return runs.build_model("transformer", 11, settings, use_solutions=True)


def test_muon_gets_the_blocks_matrices_and_adamw_everything_else_once():
    trainer = runs.load("step09", "trainer", True)
    for model in (tiny_gpt(), train_shakespeare.FastTraining(tiny_gpt(), compile=False, bf16=False)):
        inner = getattr(model, "model", model)
        optimizer = train_shakespeare.with_muon(trainer.configure_optimizer)(model, 1e-2, 0.1, (0.9, 0.95))
        in_muon = [p for group in optimizer.muon.param_groups for p in group["params"]]
        in_adamw = [p for group in optimizer.adamw.param_groups for p in group["params"]]
        blocks_matrices = {id(p) for name, p in inner.named_parameters() if name.startswith("blocks.") and p.dim() == 2}
        assert {id(p) for p in in_muon} == blocks_matrices and len(in_muon) == len(blocks_matrices)
        assert len({id(p) for p in in_muon + in_adamw}) == len(in_muon + in_adamw) == len(list(inner.parameters()))
        # AdamW keeps step 09's weight decay: on the tables, not on biases and norms; Muon gets it too.
        assert optimizer.muon.param_groups[0]["weight_decay"] == 0.1
        for group in optimizer.adamw.param_groups:
            assert group["fused"] and group["betas"] == (0.9, 0.95)
            assert group["weight_decay"] == (0.1 if group["params"][0].dim() == 2 else 0.0)
        # The trainer sets the rate on param_groups: it must reach both optimisers.
        for group in optimizer.param_groups:
            group["lr"] = 3e-3
        assert all(group["lr"] == 3e-3 for group in optimizer.muon.param_groups + optimizer.adamw.param_groups)


def test_muon_and_adamw_train_and_their_state_reloads():
    trainer = runs.load("step09", "trainer", True)
    model = tiny_gpt()
    optimizer = train_shakespeare.with_muon(trainer.configure_optimizer)(model, 1e-2, 0.0, (0.9, 0.99))
    idx = torch.randint(0, 11, (4, 8), generator=torch.Generator().manual_seed(1))
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        _, loss = model(idx[:, :-1], idx[:, 1:])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5
    again = train_shakespeare.with_muon(trainer.configure_optimizer)(model, 1e-2, 0.0, (0.9, 0.99))
    again.load_state_dict(optimizer.state_dict())
    assert again.state_dict()["muon"]["state"][0]["momentum_buffer"].equal(
        optimizer.state_dict()["muon"]["state"][0]["momentum_buffer"])


@pytest.mark.parametrize("bf16", [False, True])
def test_optimizer_of_builds_what_the_settings_ask_and_restores_the_trainer(bf16):
    import torch.optim._muon as muon_module

    trainer = runs.load("step09", "trainer", True)
    own, orthogonalize = trainer.configure_optimizer, muon_module._zeropower_via_newtonschulz
    with train_shakespeare.optimizer_of({"optimizer": "muon", "bf16": bf16}, trainer):
        assert isinstance(trainer.configure_optimizer(tiny_gpt(), 1e-3, 0.1), train_shakespeare.MuonAndAdamW)
        expected = orthogonalize if bf16 else train_shakespeare.orthogonalize_in_float32
        assert muon_module._zeropower_via_newtonschulz is expected
    with train_shakespeare.optimizer_of({"bf16": bf16}, trainer):
        optimizer = trainer.configure_optimizer(tiny_gpt(), 1e-3, 0.1)
        assert isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["fused"]
    assert trainer.configure_optimizer is own and muon_module._zeropower_via_newtonschulz is orthogonalize


def test_the_benchmark_takes_the_rates_a_preset_names_for_muon_and_course_train_keeps_its_own():
    with_muon = train_shakespeare.benchmark_settings("shakespeare-cpu", {"dropout": 0.0})
    own = runs.settings_for("shakespeare-cpu", {})
    assert (with_muon["max_lr"], with_muon["min_lr"]) == own["muon_lr"] != (own["max_lr"], own["min_lr"])
    assert with_muon["dropout"] == 0.0
    with_adamw = train_shakespeare.benchmark_settings("shakespeare-cpu", {"optimizer": "adamw"})
    assert (with_adamw["max_lr"], with_adamw["min_lr"]) == (own["max_lr"], own["min_lr"])
    given = train_shakespeare.benchmark_settings("shakespeare-cpu", {"max_lr": 1e-3, "min_lr": 1e-5})
    assert given["optimizer"] == "muon" and (given["max_lr"], given["min_lr"]) == (1e-3, 1e-5)
