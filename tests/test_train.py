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


def test_lr_schedule_is_applied():
    model = nn.Linear(1, 1)
    hist = train(model, lambda m, b: m(b).pow(2).mean(), lambda: torch.ones(4, 1), steps=10, lr=1.0,
                 lr_schedule=lambda s: 0.1 * (s + 1), progress=False)
    assert hist.lr == pytest.approx([0.1 * (s + 1) for s in range(10)])


def test_cosine_lr_shape():
    assert cosine_lr(0, 100, warmup=10) == pytest.approx(0.1)
    assert cosine_lr(10, 100, warmup=10) == pytest.approx(1.0)
    assert cosine_lr(100, 100, warmup=10, min_ratio=0.1) == pytest.approx(0.1)
    values = [cosine_lr(s, 100, warmup=10) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_divergence_and_bad_steps_are_clear_errors():
    model = nn.Linear(1, 1)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train(model, lambda m, b: m(b).sum() * float("nan"), lambda: torch.ones(1, 1), steps=1, progress=False)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        train(model, lambda m, b: m(b).sum(), lambda: torch.ones(1, 1), steps=0)
    with pytest.raises(ValueError, match="batch iterable is empty"):
        train(model, lambda m, b: m(b).sum(), [], steps=1, progress=False)


def test_history_defaults_are_independent():
    a, b = History(), History()
    a.loss.append(1.0)
    assert b.loss == []
