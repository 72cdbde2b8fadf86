"""Training to a time budget, with a fake clock: whatever the probe said and whatever the machine
does during the run, the run ends within 5% of its budget with its learning-rate decay done."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.budget import BudgetPlanner, decay_progress
from course_lib.data import LMWindows, make_loader
from course_lib.training import TrainConfig, load_checkpoint, lr_at, train

VOCAB_SIZE, BUDGET_MINUTES, MIN_LR = 7, 4.0, 1e-4
BUDGET_S = 60 * BUDGET_MINUTES


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(VOCAB_SIZE, 8)
        self.dropout = nn.Dropout(0.1)
        self.out = nn.Linear(8, VOCAB_SIZE)

    def forward(self, tokens):  # (B, T) -> (B, T, V)
        return self.out(self.dropout(self.embed(tokens)))


def loader():
    tokens = torch.arange(400) % VOCAB_SIZE
    return make_loader(LMWindows(tokens, block_size=8, stride=3), batch_size=16, seed=3)


class FakeClock:
    """Stands in for time.perf_counter: each update takes ``seconds(update number, now)``."""

    def __init__(self, seconds):
        self.now, self.updates, self.seconds = 0.0, 0, seconds

    def __call__(self):
        return self.now

    def loss(self, model, batch):
        self.updates += 1
        self.now += self.seconds(self.updates, self.now)
        x, y = batch
        return F.cross_entropy(model(x).flatten(0, 1), y.flatten())


def budgeted(first_plan, **overrides):
    settings = dict(max_steps=first_plan, budget_minutes=BUDGET_MINUTES, lr=1e-2, min_lr=MIN_LR,
                    warmup_steps=10, progress=False)
    return TrainConfig(**(settings | overrides))


def run(monkeypatch, seconds, first_plan, eval_seconds=0.0, **overrides):
    clock = FakeClock(seconds)
    monkeypatch.setattr("course_lib.training.time.perf_counter", clock)

    def eval_fn(model):
        clock.now += eval_seconds
        return {"val": 1.0}

    history = train(TinyLM(), clock.loss, loader(), budgeted(first_plan, **overrides), eval_fn=eval_fn)
    return history, clock


def assert_budget_used_and_schedule_done(history, expected_steps):
    assert BUDGET_S * 0.95 <= history.seconds <= BUDGET_S * 1.02
    assert history.lr[-1] == pytest.approx(MIN_LR)  # the decay is complete, not cut off by the clock
    assert abs(history.steps[-1] - expected_steps) <= 0.05 * expected_steps
    assert all(a >= b for a, b in itertools.pairwise(history.lr[10:]))  # no jump back up at a re-plan


@pytest.mark.parametrize("probe_seconds", [2.0, 0.5], ids=["probe-2x-slower", "probe-2x-faster"])
def test_a_wrong_probe_is_corrected(monkeypatch, probe_seconds):
    history, _ = run(monkeypatch, lambda update, now: 1.0, first_plan=int(BUDGET_S / probe_seconds))
    assert len(history.plan) > 1
    assert_budget_used_and_schedule_done(history, expected_steps=BUDGET_S)


def test_a_rate_that_changes_mid_run(monkeypatch):
    # 1 s per update for the first two minutes, then 2 s: 120 + 60 updates fit.
    history, _ = run(monkeypatch, lambda update, now: 1.0 if now < 120 else 2.0, first_plan=240)
    assert_budget_used_and_schedule_done(history, expected_steps=180)


def test_a_single_stalled_update_is_paid_for_but_not_extrapolated(monkeypatch):
    # Update 50 takes 30 s (another job had the CPU): 210 updates of 1 s still fit. Counted in the
    # mean of its window, the stall would make the next updates look twice as slow as they are
    # and shrink the plan to about 140 steps, until a later re-plan stretched it again.
    history, _ = run(monkeypatch, lambda update, now: 30.0 if update == 50 else 1.0, first_plan=240)
    assert_budget_used_and_schedule_done(history, expected_steps=210)
    assert all(abs(total - 210) <= 0.05 * 210 for after_step, total in history.plan if after_step >= 50)


def test_batches_of_different_lengths_are_planned_from_the_mean(monkeypatch):
    # One long batch in four (2.5 s, the others 0.5 s): the mean is 1 s, the median 0.5 s. Planned
    # from the median the run would get twice the steps that fit and stop halfway through its decay.
    history, _ = run(monkeypatch, lambda update, now: 2.5 if update % 4 == 0 else 0.5, first_plan=240)
    assert_budget_used_and_schedule_done(history, expected_steps=240)


def test_evaluations_count_in_the_budget(monkeypatch):
    # 8 s per evaluation, every 30 updates and after the last: about 8 evaluations and 175 updates.
    history, _ = run(monkeypatch, lambda update, now: 1.0, first_plan=240, eval_seconds=8.0,
                     eval_every=30)
    steps = history.steps[-1]
    assert sorted(history.evals) == [*range(30, steps, 30), steps]
    assert_budget_used_and_schedule_done(history, expected_steps=BUDGET_S - 8 * len(history.evals))


def test_a_budgeted_run_replays_exactly_from_its_step_count_and_plan(monkeypatch):
    history, _ = run(monkeypatch, lambda update, now: 1.0 if now < 120 else 2.0, first_plan=120,
                     eval_every=50)
    monkeypatch.undo()  # the replay needs no clock
    replay_config = budgeted(history.steps[-1], budget_minutes=None, plan=tuple(history.plan), eval_every=50)
    replayed_model, timed_model = TinyLM(), TinyLM()
    replayed = train(replayed_model, FakeClock(lambda update, now: 0.0).loss, loader(), replay_config,
                     eval_fn=lambda model: {"val": 1.0})
    assert replayed == history  # steps, losses, learning rates, evaluations, plan
    assert replayed.train_loss == history.train_loss
    # and the weights: train the timed run again to compare models
    clock = FakeClock(lambda update, now: 1.0 if now < 120 else 2.0)
    monkeypatch.setattr("course_lib.training.time.perf_counter", clock)
    train(timed_model, clock.loss, loader(), budgeted(120, eval_every=50), eval_fn=lambda model: {"val": 1.0})
    for a, b in zip(replayed_model.parameters(), timed_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_resumed_budgeted_run_keeps_its_plan_and_budget(monkeypatch, tmp_path):
    path = tmp_path / "run.pt"
    clock = FakeClock(lambda update, now: 1.0)
    monkeypatch.setattr("course_lib.training.time.perf_counter", clock)

    def crashing_loss(model, batch):
        if clock.updates == 100:
            raise KeyboardInterrupt  # the process dies after 100 s, its checkpoint is from update 90
        return clock.loss(model, batch)

    settings = dict(checkpoint_path=path, checkpoint_every=30)
    with pytest.raises(KeyboardInterrupt):
        train(TinyLM(), crashing_loss, loader(), budgeted(120, **settings))
    saved = load_checkpoint(path, TinyLM())
    assert saved.steps[-1] == 90 and len(saved.plan) > 1 and saved.seconds == pytest.approx(90.0)
    history = train(TinyLM(), clock.loss, loader(), budgeted(120, **settings), resume=True)
    assert history.plan[: len(saved.plan)] == saved.plan
    assert_budget_used_and_schedule_done(history, expected_steps=BUDGET_S)


def test_decay_progress_known_answers():
    plan = [(0, 10), (4, 20)]  # planned 10 steps; after step 4, 20
    assert [decay_progress(s, 0, plan) for s in (2, 4, 12, 20, 25)] == pytest.approx([0.2, 0.4, 0.7, 1.0, 1.0])
    # With warm-up the decay starts after it; a re-plan during warm-up just changes the length.
    assert decay_progress(6, 6, [(0, 10), (3, 16)]) == 0.0
    assert decay_progress(11, 6, [(0, 10), (3, 16)]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="empty"):
        decay_progress(1, 0, [])


def test_one_plan_is_the_plain_schedule_bit_for_bit():
    plain = TrainConfig(max_steps=37, lr=3e-3, min_lr=1e-4, warmup_steps=5)
    planned = TrainConfig(max_steps=37, lr=3e-3, min_lr=1e-4, warmup_steps=5, plan=((0, 37),))
    assert [lr_at(s, plain) for s in range(1, 38)] == [lr_at(s, planned) for s in range(1, 38)]


def test_planner_waits_for_timed_updates_and_ignores_the_first():
    planner = BudgetPlanner(budget_seconds=100.0)
    for seconds in (50.0, 20.0, 1.0):  # two slow first updates, then one of 1 s
        planner.record_update(seconds)
    assert planner.replan(3, 100, elapsed_seconds=71.0) == 100  # one timed update: wait
    planner.record_update(1.0)
    assert planner.replan(4, 100, elapsed_seconds=72.0) == 4 + 28  # 28 s left at 1 s each
    planner.record_update(1.0)
    assert planner.replan(5, 32, elapsed_seconds=73.0) == 32  # no re-plan point passed since


def test_planner_with_a_clock_too_coarse_to_time_an_update():
    # Every update timed as 0 s, evaluations every 10 steps at 1 s: a finite plan, found quickly.
    planner = BudgetPlanner(budget_seconds=100.0, overhead_every=[10])
    for _ in range(4):
        planner.record_update(0.0)
    planner.record_overhead(1.0)
    # 89 s left: 88 evaluations on the way (steps 10 to 880) and one after the last step
    assert planner.replan(4, 100, elapsed_seconds=10.0) == 890


def test_a_first_plan_too_short_to_time_is_extended_at_its_end(monkeypatch):
    # A probe on a very busy machine planned 3 steps: too few to re-plan on the way, so the plan
    # is extended when it ends (the decay is over by then: the extra steps run at min_lr).
    history, _ = run(monkeypatch, lambda update, now: 1.0, first_plan=3, warmup_steps=0)
    assert history.plan[:2] == [(0, 3), (3, 3 + 237)]  # 237 s left after 3 updates of 1 s
    assert BUDGET_S * 0.95 <= history.seconds <= BUDGET_S * 1.02
    assert history.lr[3:] == [MIN_LR] * (len(history.lr) - 3)


@pytest.mark.parametrize(
    "overrides, message",
    [(dict(budget_minutes=0.0), "budget_minutes"),
     (dict(budget_minutes=1.0, max_minutes=1.0), "max_minutes"),
     (dict(budget_minutes=1.0, plan=((0, 5),)), "plan"),
     (dict(plan=((3, 5),)), "from \\(0, first plan\\)"),
     (dict(plan=((0, 5), (4, 9), (4, 12))), "increasing"),
     (dict(plan=((0, 5), (4, 4))), "total > after_step")],
)
def test_bad_budget_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(max_steps=5, **overrides)
