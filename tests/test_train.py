import pytest
import torch
from torch import nn

from genlib import checkpoints as ck
from genlib.train import History, cosine_lr, train


def _regression():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    return x, y


def test_train_fits_linear_regression_and_records_history(tmp_path):
    torch.manual_seed(0)
    x, y = _regression()
    model = nn.Linear(3, 1)
    loss_fn = lambda m, b: nn.functional.mse_loss(m(b[0]), b[1])
    hist = train(model, loss_fn, lambda: (x, y), steps=300, lr=0.05, progress=False,
                 eval_fn=lambda m: {"mse": loss_fn(m, (x, y))}, eval_every=100, checkpoint=tmp_path / "m.pt")
    assert hist.loss[-1] < 1e-3 < hist.loss[0]
    assert hist.eval_steps == [99, 199, 299] and hist.eval_series("mse")[-1] < 1e-3
    assert len(hist.steps) == 300 and not model.training
    reloaded = ck.load_weights(nn.Linear(3, 1), tmp_path / "m.pt")
    assert torch.equal(reloaded.weight, model.weight)


def test_train_cycles_a_dataloader_and_continues_history():
    x, y = _regression()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)  # 4 batches
    model = nn.Linear(3, 1)
    loss_fn = lambda m, b: nn.functional.mse_loss(m(b[0]), b[1])
    hist = train(model, loss_fn, loader, steps=10, progress=False)
    hist = train(model, loss_fn, loader, steps=5, progress=False, history=hist)
    assert hist.steps == list(range(15))


def test_lr_schedule_runs_over_the_share_of_the_budget_used():
    model = nn.Linear(1, 1)
    hist = train(model, lambda m, b: m(b).pow(2).mean(), lambda: torch.ones(4, 1), steps=10, lr=1.0,
                 lr_schedule=lambda p: 1 - p, progress=False)
    assert hist.lr == pytest.approx([1 - s / 10 for s in range(10)])


def test_a_time_budget_ends_on_time_and_finishes_its_schedule():
    model = nn.Linear(1, 1)
    hist = train(model, lambda m, b: m(b).pow(2).mean(), lambda: torch.ones(4, 1), seconds=0.3, lr=1.0,
                 lr_schedule=lambda p: 1 - p, progress=False)
    assert 0.3 <= hist.seconds < 1.5 and len(hist.steps) > 5
    assert hist.lr[0] == 1.0 and hist.lr[-1] < 0.2  # the decay reached (almost) its end at the deadline
    capped = train(nn.Linear(1, 1), lambda m, b: m(b).pow(2).mean(), lambda: torch.ones(4, 1), steps=7, seconds=60,
                   progress=False)
    assert len(capped.steps) == 7  # whichever budget runs out first


def test_cosine_lr_shape():
    assert cosine_lr(0.05, warmup=0.1) == pytest.approx(0.5)
    assert cosine_lr(0.1, warmup=0.1) == pytest.approx(1.0)
    assert cosine_lr(1.0, warmup=0.1, min_ratio=0.1) == pytest.approx(0.1)
    assert cosine_lr(0.55, warmup=0.1, min_ratio=0.0) == pytest.approx(0.5)  # half-way through the decay
    values = [cosine_lr(s / 100, warmup=0.1) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError, match="share of the budget"):
        cosine_lr(0.5, warmup=10)


def _noisy_regression_run(tmp_path, crash_at=None):
    """20 steps of SGD with momentum on batches drawn from a seeded generator; optionally crash mid-way."""
    torch.manual_seed(0)
    x, y = _regression()
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    calls = {"n": 0}

    def batch():
        calls["n"] += 1
        if crash_at is not None and calls["n"] == crash_at:
            raise KeyboardInterrupt("the session ended")
        idx = torch.randint(len(x), (16,), generator=g)
        return x[idx], y[idx]
    hist = train(model, lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]), batch, steps=20, optimizer=opt,
                 lr_schedule=lambda p: 1 - p, state_path=tmp_path / "state.pt", state_every=0, rng=g,
                 progress=False)
    return model, hist


def test_a_crashed_run_resumes_to_the_same_weights(tmp_path):
    straight, hist = _noisy_regression_run(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        _noisy_regression_run(tmp_path / "b", crash_at=13)  # 12 steps done and saved, then the crash
    assert (tmp_path / "b" / "state.pt").exists()
    resumed, hist_b = _noisy_regression_run(tmp_path / "b")
    torch.testing.assert_close(resumed.weight, straight.weight, rtol=0, atol=0)
    assert hist_b.steps == list(range(20)) and hist_b.loss == hist.loss
    assert not (tmp_path / "b" / "state.pt").exists()  # a finished run leaves no state behind


def test_a_custom_step_function_gets_the_same_loop():
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def two_numbers(m, b):
        opt.zero_grad()
        loss = m(b).pow(2).mean()
        loss.backward()
        opt.step()
        return {"loss": loss.item(), "weight": m.weight.item()}
    hist = train(model, None, lambda: torch.ones(4, 1), steps=5, optimizer=opt, step_fn=two_numbers,
                 lr_schedule=lambda p: 0.5, progress=False)
    assert len(hist.loss) == 5 and hist.logs["weight"][-1] == model.weight.item()
    assert hist.lr == [pytest.approx(0.05)] * 5
    with pytest.raises(ValueError, match="exactly one of loss_fn"):
        train(model, lambda m, b: m(b).sum(), lambda: torch.ones(1, 1), steps=1, step_fn=two_numbers)


def test_divergence_and_bad_steps_are_clear_errors():
    model = nn.Linear(1, 1)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train(model, lambda m, b: m(b).sum() * float("nan"), lambda: torch.ones(1, 1), steps=1, progress=False)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        train(model, lambda m, b: m(b).sum(), lambda: torch.ones(1, 1), steps=0)
    with pytest.raises(ValueError, match="give a budget"):
        train(model, lambda m, b: m(b).sum(), lambda: torch.ones(1, 1))
    with pytest.raises(ValueError, match="batch iterable is empty"):
        train(model, lambda m, b: m(b).sum(), [], steps=1, progress=False)


def test_history_defaults_are_independent():
    a, b = History(), History()
    a.loss.append(1.0)
    assert b.loss == []
