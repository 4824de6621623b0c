"""Shared fixtures: every dispatch and loop test runs against both core implementations."""
import importlib

import pytest
import torch

from fastrun import _core


def _load_core(name):
    if name == 'cython':
        # The compiled core must be there: a missing build fails here, it is never skipped.
        return importlib.import_module('fastrun._core_cy')
    return importlib.import_module('fastrun._core_py')


@pytest.fixture(params=['cython', 'python'])
def core(request, monkeypatch):
    """The core implementation runners built in this test use ('cython' or 'python')."""
    monkeypatch.setattr(_core, 'impl', _load_core(request.param))
    return request.param


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs CUDA')
    for item in items:
        if 'cuda' in item.keywords:
            item.add_marker(skip)


class ToyModel(torch.nn.Module):
    """A linear model with the mmcv train_step/val_step contract; log_vars stay tensors."""

    def __init__(self, in_features=4, out_features=1):
        super().__init__()
        self.linear = torch.nn.Linear(in_features, out_features)

    def forward(self, x):
        return self.linear(x)

    def train_step(self, data_batch, optimizer=None, **kwargs):
        x, y = data_batch if isinstance(data_batch, (tuple, list)) else (data_batch, None)
        out = self(x)
        loss = ((out - y) ** 2).mean() if y is not None else (out ** 2).mean()
        return dict(loss=loss, log_vars=dict(loss=loss.detach()), num_samples=len(x))

    def val_step(self, data_batch, optimizer=None, **kwargs):
        return self.train_step(data_batch, optimizer, **kwargs)


@pytest.fixture
def toy_model():
    torch.manual_seed(0)
    return ToyModel()


def make_loader(n_batches=4, batch_size=2, in_features=4, seed=0):
    """A list of (x, y) batches, a valid data loader for the runner."""
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch_size, in_features, generator=g), torch.randn(batch_size, 1, generator=g))
            for _ in range(n_batches)]


class TrainedRun:
    """A finished ``fastrun train`` of ``tests.test_cli.BASE``: ``work_dir`` and the command's ``stderr``."""

    def __init__(self, work_dir, stderr):
        self.work_dir, self.stderr = work_dir, stderr


@pytest.fixture(scope='session')
def trained_run(tmp_path_factory):
    """One real ``fastrun train`` of ``tests.test_cli.BASE`` (2 epochs of 4 iterations, evaluated
    and checkpointed each epoch), run once per test session for the tests that only need some
    trained run: ``epoch_1.pth``, ``epoch_2.pth``, ``latest.pth``, the best checkpoint, the text
    and JSON logs. Shared: read it, write elsewhere (its files are made read-only).
    """
    import os
    from tests.test_cli import BASE, run_cli
    root = tmp_path_factory.mktemp('trained_run')
    (root / 'base.py').write_text(BASE)
    proc = run_cli('train', root / 'base.py', '--work-dir', root / 'work')
    for name in os.listdir(root / 'work'):
        path = root / 'work' / name
        if path.is_file() and not path.is_symlink():
            path.chmod(0o444)
    return TrainedRun(root / 'work', proc.stderr)
