"""The training loop: it learns, resumes bit-identically, clips, schedules, and fails clearly."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data import LMWindows, make_loader, random_windows
from course_lib.training import (
    History,
    TrainConfig,
    default_optimizer,
    evaluate_loss,
    load_checkpoint,
    lr_at,
    planned_config,
    steps_within,
    train,
)

VOCAB_SIZE = 7


class TinyLM(nn.Module):
    """Embedding -> dropout -> linear: small, but with weights, biases and randomness."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(VOCAB_SIZE, 8)
        self.dropout = nn.Dropout(0.1)
        self.out = nn.Linear(8, VOCAB_SIZE)

    def forward(self, tokens):  # (B, T) -> (B, T, V)
        return self.out(self.dropout(self.embed(tokens)))


def lm_loss(model, batch):
    x, y = batch
    logits = model(x)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten())


def token_stream(n=400):
    # A pattern the model can learn: token i is followed by (i + 1) % V.
    return torch.arange(n) % VOCAB_SIZE


def config(**overrides):
    settings = dict(max_steps=20, lr=1e-2, progress=False, warmup_steps=3, eval_every=5)
    return TrainConfig(**(settings | overrides))


def shuffled_loader():
    return make_loader(LMWindows(token_stream(), block_size=8, stride=3), batch_size=16, seed=3)


def test_loss_decreases_and_history_is_complete():
    model = TinyLM()
    validation = list(shuffled_loader())[:4]
    before = evaluate_loss(model, lm_loss, validation)
    history = train(model, lm_loss, shuffled_loader(), config(max_steps=60, lr=3e-2),
                    eval_fn=lambda m: {"val_loss": evaluate_loss(m, lm_loss, validation)})
    after = evaluate_loss(model, lm_loss, validation)
    assert after < 0.5 * before
    assert history.steps == list(range(1, 61))
    assert len(history.train_loss) == len(history.lr) == 60
    assert sorted(history.evals) == list(range(5, 61, 5))
    assert history.last("val_loss") == pytest.approx(after)
    assert history.best("val_loss") == min(m["val_loss"] for m in history.evals.values())
    assert history.seconds > 0
    assert model.training  # eval_fn ran in eval mode, and train mode came back


def test_eval_fn_runs_in_eval_mode_without_grad_and_at_the_last_step():
    seen = []

    def eval_fn(model):
        seen.append((model.training, torch.is_grad_enabled()))
        return {"val_loss": torch.tensor(1.5)}  # a tensor is turned into a float

    history = train(TinyLM(), lm_loss, shuffled_loader(), config(max_steps=7), eval_fn=eval_fn)
    assert sorted(history.evals) == [5, 7]
    assert seen == [(False, False), (False, False)]
    assert history.evals[7] == {"val_loss": 1.5}


def test_evaluation_does_not_change_the_training_run():
    # The eval function draws random numbers; training (dropout, shuffling) must not notice.
    quiet, evaluated = TinyLM(), TinyLM()
    a = train(quiet, lm_loss, shuffled_loader(), config(eval_every=None))
    b = train(evaluated, lm_loss, shuffled_loader(), config(eval_every=3),
              eval_fn=_eval_with_random_batches)
    assert a.train_loss == b.train_loss
    assert all(torch.equal(p, q) for p, q in zip(quiet.parameters(), evaluated.parameters(), strict=True))
    assert len(b.evals) == 7


def run_in_two_parts(batches, tmp_path, **overrides):
    """Train 20 steps at once, and as 10 + 10 resumed from a checkpoint, from different inits."""
    eval_fn = _eval_with_random_batches
    full_model = TinyLM(seed=0)
    full = train(full_model, lm_loss, batches(), config(**overrides), eval_fn=eval_fn)
    path = tmp_path / "run.pt"
    first = config(max_steps=10, checkpoint_path=path, checkpoint_every=4, **overrides)
    train(TinyLM(seed=0), lm_loss, batches(), first, eval_fn=eval_fn)
    torch.manual_seed(123)  # disturb the global RNG: resuming must restore it
    resumed_model = TinyLM(seed=99)  # a different init: the checkpoint must overwrite it
    second = config(checkpoint_path=path, checkpoint_every=4, **overrides)
    resumed = train(resumed_model, lm_loss, batches(), second, eval_fn=eval_fn, resume=True)
    return full_model, full, resumed_model, resumed


def _eval_with_random_batches(model):
    # Draws from the global RNG: evaluation must not shift the training's random numbers.
    x = torch.randint(VOCAB_SIZE, (4, 8))
    return {"val_loss": lm_loss(model, (x, (x + 1) % VOCAB_SIZE)).item()}


def assert_same_run(model_a, history_a, model_b, history_b):
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert history_a == history_b
    assert history_a.train_loss == history_b.train_loss  # spelled out: bit-identical floats


def test_resume_is_bit_identical_with_a_shuffled_dataloader(tmp_path):
    # 9 batches per epoch: the first part stops in the second epoch, after its first batch.
    assert len(shuffled_loader()) == 9
    assert_same_run(*run_in_two_parts(shuffled_loader, tmp_path))


def test_resume_is_bit_identical_with_a_bucketed_loader(tmp_path):
    sequences = [list(range(1 + i % 5)) for i in range(40)]
    lengths = [len(s) for s in sequences]

    def loader():
        return make_loader(sequences, batch_size=6, pad_id=0, lengths=lengths, seed=1)

    def batch_loss(model, batch):
        return lm_loss(model, (batch.src, (batch.src + 1) % VOCAB_SIZE))

    full_model = TinyLM()
    full = train(full_model, batch_loss, loader(), config())
    path = tmp_path / "run.pt"
    train(TinyLM(), batch_loss, loader(), config(max_steps=9, checkpoint_path=path))
    resumed_model = TinyLM(seed=5)
    resumed = train(resumed_model, batch_loss, loader(), config(checkpoint_path=path), resume=True)
    assert_same_run(full_model, full, resumed_model, resumed)


def test_resume_is_bit_identical_with_a_batch_function(tmp_path):
    stream = token_stream()
    assert_same_run(*run_in_two_parts(lambda: lambda: random_windows(stream, 8, 16), tmp_path))


def test_resume_after_a_crash_is_bit_identical_with_cosine_decay(tmp_path):
    # A real interruption: the run dies at step 15, after its checkpoint at step 12.
    settings = dict(min_lr=1e-3, checkpoint_path=tmp_path / "run.pt", checkpoint_every=4)
    full_model = TinyLM()
    full = train(full_model, lm_loss, shuffled_loader(), config(**settings))
    calls = 0

    def crashing_loss(model, batch):
        nonlocal calls
        calls += 1
        if calls == 15:
            raise KeyboardInterrupt
        return lm_loss(model, batch)

    with pytest.raises(KeyboardInterrupt):
        train(TinyLM(), crashing_loss, shuffled_loader(), config(**settings))
    assert load_checkpoint(tmp_path / "run.pt", TinyLM()).steps[-1] == 12
    resumed_model = TinyLM(seed=7)
    resumed = train(resumed_model, lm_loss, shuffled_loader(), config(**settings), resume=True)
    assert_same_run(full_model, full, resumed_model, resumed)


def test_resume_without_a_checkpoint_file_starts_fresh(tmp_path):
    path = tmp_path / "new.pt"
    history = train(TinyLM(), lm_loss, shuffled_loader(), config(checkpoint_path=path), resume=True)
    assert history.steps[0] == 1 and path.exists()
    assert load_checkpoint(path, TinyLM()) == history


def test_resume_needs_a_checkpoint_path():
    with pytest.raises(ValueError, match="checkpoint_path"):
        train(TinyLM(), lm_loss, shuffled_loader(), config(), resume=True)


def test_gradient_clipping_bounds_the_update():
    # loss = 1000 * sum(w): every gradient is 1000, the norm 2000. With SGD at lr 1, clipping
    # to norm 1 scales the gradient to 0.5 per entry; without clipping w moves by 1000.
    class Weights(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(4))

    def huge_loss(model, batch):
        return 1000 * model.w.sum()

    for grad_clip, expected in ((1.0, -0.5), (None, -1000.0)):
        model = Weights()
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        train(model, huge_loss, [None], config(max_steps=1, lr=1.0, warmup_steps=0,
                                              grad_clip=grad_clip), optimizer=optimizer)
        assert torch.allclose(model.w, torch.full((4,), expected))


def test_warmup_then_constant_known_answers():
    cfg = TrainConfig(max_steps=10, lr=1.0, warmup_steps=4)
    assert [lr_at(s, cfg) for s in range(1, 7)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_warmup_then_cosine_known_answers():
    cfg = TrainConfig(max_steps=6, lr=1.0, warmup_steps=2, min_lr=0.0)
    c = math.cos(math.pi / 4)
    expected = [0.5, 1.0, 0.5 * (1 + c), 0.5, 0.5 * (1 - c), 0.0]
    assert [lr_at(s, cfg) for s in range(1, 7)] == pytest.approx(expected)
    floor = TrainConfig(max_steps=6, lr=1.0, min_lr=0.1)
    assert lr_at(6, floor) == lr_at(7, floor) == pytest.approx(0.1)  # and it stays there


def test_train_applies_the_schedule_to_the_optimizer():
    history = train(TinyLM(), lm_loss, shuffled_loader(), config(max_steps=6, lr=1.0,
                                                                  warmup_steps=2, min_lr=0.0))
    assert history.lr == pytest.approx([lr_at(s, config(max_steps=6, lr=1.0, warmup_steps=2,
                                                          min_lr=0.0)) for s in range(1, 7)])


def test_default_optimizer_decays_only_matrices():
    model = TinyLM()
    groups = default_optimizer(model, TrainConfig(max_steps=1, weight_decay=0.1)).param_groups
    decayed = {id(p) for g in groups if g["weight_decay"] == 0.1 for p in g["params"]}
    assert decayed == {id(model.embed.weight), id(model.out.weight)}
    assert sum(len(g["params"]) for g in groups) == 3  # out.bias is in the other group


def test_default_optimizer_is_fused_on_the_cpu_and_updates_like_plain_adamw():
    fused_model, plain_model, untrained = TinyLM(seed=1), TinyLM(seed=1), TinyLM(seed=1)
    settings = TrainConfig(max_steps=1, lr=1e-2, weight_decay=0.1, betas=(0.9, 0.99))
    fused = default_optimizer(fused_model, settings)
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    assert (fused.defaults["fused"] is True) == ((major, minor) >= (2, 4))  # CPU: torch >= 2.4
    plain = default_optimizer(plain_model, settings)
    for group in plain.param_groups:
        group["fused"] = False  # the one-operation-at-a-time implementation, as an oracle
    batch = random_windows(token_stream(), 8, 4, torch.Generator().manual_seed(0))
    for model, optimizer in ((fused_model, fused), (plain_model, plain)):
        model.eval()  # no dropout: both see the same gradients
        for _ in range(3):
            optimizer.zero_grad()
            lm_loss(model, batch).backward()
            optimizer.step()
    for mine, oracle, start in zip(fused_model.parameters(), plain_model.parameters(),
                                   untrained.parameters(), strict=True):
        torch.testing.assert_close(mine, oracle)
        assert not torch.equal(mine, start)


def test_batches_reach_the_models_device_and_set_epoch_is_called():
    epochs = []

    class Source(list):
        def set_epoch(self, epoch):
            epochs.append(epoch)

    x = torch.arange(8).reshape(2, 4) % VOCAB_SIZE
    batch = (x, (x + 1) % VOCAB_SIZE)
    train(TinyLM(), lm_loss, Source([batch, batch]), config(max_steps=5))
    assert epochs == [0, 1, 2]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(max_steps=0), "max_steps"),
        (dict(max_minutes=0.0), "max_minutes"),
        (dict(lr=0.0), "lr"),
        (dict(min_lr=1.0), "min_lr"),
        (dict(grad_clip=0.0), "grad_clip"),
        (dict(checkpoint_every=5), "checkpoint_path"),
    ],
)
def test_bad_config_is_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        config(**overrides)


def test_non_scalar_loss_is_refused():
    def per_token_loss(model, batch):
        x, y = batch
        return F.cross_entropy(model(x).flatten(0, 1), y.flatten(), reduction="none")

    with pytest.raises(ValueError, match="scalar.*step 1"):
        train(TinyLM(), per_token_loss, shuffled_loader(), config())


def test_non_finite_loss_names_the_step_and_a_remedy():
    calls = 0

    def exploding_loss(model, batch):
        nonlocal calls
        calls += 1
        return lm_loss(model, batch) * (math.inf if calls == 3 else 1.0)

    with pytest.raises(FloatingPointError, match="at step 3.*lower lr.*grad_clip"):
        train(TinyLM(), exploding_loss, shuffled_loader(), config())


def test_model_without_parameters_is_refused():
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(nn.ReLU(), lm_loss, shuffled_loader(), config())


def test_empty_batches_are_refused():
    with pytest.raises(ValueError, match="empty"):
        train(TinyLM(), lm_loss, [], config())
    with pytest.raises(TypeError, match="one-shot"):
        train(TinyLM(), lm_loss, iter([1, 2]), config())
    with pytest.raises(ValueError, match="no batches"):
        evaluate_loss(TinyLM(), lm_loss, [])


def test_evaluate_loss_is_the_mean_in_eval_mode_and_restores_the_mode():
    model = TinyLM()
    batches = list(shuffled_loader())[:3]
    eval_losses = [lm_loss(model.eval(), b).item() for b in batches]  # no dropout
    model.train()
    assert evaluate_loss(model, lm_loss, batches) == pytest.approx(sum(eval_losses) / 3)
    assert evaluate_loss(model, lm_loss, batches, max_batches=1) == pytest.approx(eval_losses[0])
    assert evaluate_loss(model, lm_loss, lambda: batches[1], max_batches=2) == pytest.approx(
        eval_losses[1])
    assert model.training
    with pytest.raises(ValueError, match="max_batches"):
        evaluate_loss(model, lm_loss, lambda: batches[0])


def test_history_metrics_and_errors():
    history = History(steps=[1, 2], train_loss=[2.0, 1.0], lr=[0.1, 0.1],
                      evals={2: {"val_loss": 1.5, "accuracy": 0.7}})
    assert history.last("train_loss") == 1.0
    assert history.best("accuracy", higher_is_better=True) == 0.7
    assert list(history.curves()) == ["train_loss", "val_loss"]
    with pytest.raises(KeyError, match="accuracy"):
        history.last("val_acc")


def test_progress_bar_honours_tqdm_disable(monkeypatch, capsys):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    train(TinyLM(), lm_loss, shuffled_loader(), config(max_steps=2, progress=True))
    assert capsys.readouterr().err == ""
    monkeypatch.delenv("TQDM_DISABLE")
    train(TinyLM(), lm_loss, shuffled_loader(), config(max_steps=2, progress=True))
    assert "2/2" in capsys.readouterr().err


def test_after_step_runs_after_every_update_and_its_effect_is_kept():
    model = TinyLM()
    seen = []

    def clamp_output_rows(m):
        seen.append(m.training)
        with torch.no_grad():
            m.out.weight.clamp_(-0.05, 0.05)

    train(model, lm_loss, shuffled_loader(), config(max_steps=7), after_step=clamp_output_rows)
    assert seen == [True] * 7
    assert model.out.weight.abs().max() <= 0.05


def autocast_recorder(seen):
    """lm_loss that records the dtype of the model's logits (bfloat16 under CPU autocast)."""

    def loss_fn(model, batch):
        x, y = batch
        logits = model(x)  # (B, T, V)
        seen.append(logits.dtype)
        return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())

    return loss_fn


@pytest.mark.parametrize("cpu_amp", [False, True])
def test_cpu_amp_runs_training_and_the_probe_in_bfloat16(monkeypatch, cpu_amp):
    import course_lib.device

    monkeypatch.setattr(course_lib.device, "cpu_has_native_bf16", lambda: True)
    expected = torch.bfloat16 if cpu_amp else torch.float32
    seen = []
    model = TinyLM()
    history = train(model, autocast_recorder(seen), shuffled_loader(), config(cpu_amp=cpu_amp))
    assert seen == [expected] * 20
    assert history.train_loss[-1] < history.train_loss[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay float32
    seen.clear()
    steps_within(1.0, model, autocast_recorder(seen), shuffled_loader(), probe=2, cpu_amp=cpu_amp)
    assert seen == [expected] * 3


def test_steps_within_times_a_copy_and_fills_the_budget():
    model = TinyLM()
    before = [p.detach().clone() for p in model.parameters()]
    steps, seconds = steps_within(1.0, model, lm_loss, shuffled_loader(), probe=2)
    assert seconds > 0 and steps == max(1, int(60 / seconds))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    with pytest.raises(ValueError, match="needs 3 batches"):
        steps_within(1.0, model, lm_loss, [next(iter(shuffled_loader()))], probe=2)


class FakeClock:
    """Stands in for time.perf_counter: time moves only when a loss is computed."""

    def __init__(self, seconds_per_step):
        self.now, self.seconds_per_step = 1000.0, seconds_per_step

    def __call__(self):
        return self.now

    def timed_loss(self, model, batch):
        self.now += self.seconds_per_step
        return lm_loss(model, batch)


def test_steps_within_plans_from_the_mean_update(monkeypatch):
    clock = FakeClock(seconds_per_step=2.0)
    monkeypatch.setattr("course_lib.training.time.perf_counter", clock)
    losses = []

    def one_long_batch(model, batch):  # the second timed update takes a minute longer
        losses.append(1)
        clock.now += 60.0 if len(losses) == 3 else 0.0
        return clock.timed_loss(model, batch)

    steps, seconds = steps_within(1.0, TinyLM(), one_long_batch, shuffled_loader(), probe=3)
    assert seconds == pytest.approx(22.0) and steps == 2  # (2 + 62 + 2) / 3 s per step


def test_planned_config_cuts_the_warm_up_and_spaces_evaluations_over_the_first_plan(monkeypatch):
    fixed = planned_config(TinyLM(), lm_loss, shuffled_loader(), steps=100, evaluations=4, warmup_steps=50, lr=3e-3)
    assert (fixed.max_steps, fixed.budget_minutes, fixed.warmup_steps, fixed.eval_every, fixed.lr) == (
        100, None, 10, 25, 3e-3)
    replay = planned_config(TinyLM(), lm_loss, shuffled_loader(), steps=230, plan=((0, 200), (50, 230)),
                            evaluations=10, warmup_steps=50)
    assert (replay.max_steps, replay.warmup_steps, replay.eval_every) == (230, 20, 20)  # the first plan: 200
    probes = []
    monkeypatch.setattr("course_lib.training.steps_within",
                        lambda minutes, model, loss_fn, batches, probe, cpu_amp: probes.append((minutes, probe, cpu_amp))
                        or (37, 1.6))
    budgeted = planned_config(TinyLM(), lm_loss, shuffled_loader(), minutes=1.0, probe=16, cpu_amp=True,
                              warmup_steps=100)
    assert probes == [(1.0, 16, True)]
    assert (budgeted.max_steps, budgeted.budget_minutes, budgeted.warmup_steps, budgeted.eval_every) == (
        37, 1.0, 3, None)
    for wrong in ({}, {"minutes": 1.0, "steps": 10}):
        with pytest.raises(ValueError, match="minutes .* or steps"):
            planned_config(TinyLM(), lm_loss, shuffled_loader(), **wrong)


def test_max_minutes_stops_training_then_evaluates_and_checkpoints(monkeypatch, tmp_path):
    clock = FakeClock(seconds_per_step=10.0)
    monkeypatch.setattr("course_lib.training.time.perf_counter", clock)
    settings = dict(max_minutes=1.0, min_lr=1e-3, checkpoint_path=tmp_path / "run.pt", checkpoint_every=4)
    history = train(TinyLM(), clock.timed_loss, shuffled_loader(), config(**settings),
                    eval_fn=lambda model: {"step_seen": 1.0})
    assert history.steps == list(range(1, 7))  # 6 steps x 10 s reach the 60-s limit
    assert sorted(history.evals) == [5, 6]  # eval_every=5, and after the last step
    assert history.seconds == pytest.approx(60.0)
    assert history.lr[-1] == lr_at(6, config(**settings))  # the schedule still plans 20 steps
    assert load_checkpoint(tmp_path / "run.pt", TinyLM()) == history
    # Resuming a run that has used up its time trains no further.
    resumed = train(TinyLM(), clock.timed_loss, shuffled_loader(), config(**settings), resume=True)
    assert resumed == history


def test_max_minutes_beyond_the_run_changes_nothing(monkeypatch):
    clock = FakeClock(seconds_per_step=10.0)
    monkeypatch.setattr("course_lib.training.time.perf_counter", clock)
    limited = train(TinyLM(), clock.timed_loss, shuffled_loader(), config(max_minutes=60.0))
    unlimited = train(TinyLM(), clock.timed_loss, shuffled_loader(), config())
    assert limited == unlimited and limited.steps[-1] == 20


def test_optimizers_drive_several_optimizers_as_one_and_checkpoint():
    from course_lib.training import Optimizers

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(5, 3, sparse=True), torch.nn.Linear(3, 2))
    sparse, dense = model[0].parameters(), model[1].parameters()
    both = Optimizers(torch.optim.SparseAdam(sparse, lr=0.1), torch.optim.Adam(dense, lr=0.1))
    assert len(both.param_groups) == 2
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.tensor([1, 2])).sum().backward()
    both.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    both.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    state = both.state_dict()
    assert [s["state"] != {} for s in state["optimizers"]] == [True, True]
    both.load_state_dict(state)
