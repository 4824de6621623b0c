"""ProgressBarHook: one bar per epoch, advanced once per iteration."""
import torch

from fastrun import ProgressBarHook, Runner
from tests.conftest import ToyModel, make_loader


def test_progress_bar_counts_iterations(core):
    model = ToyModel()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), max_epochs=2)
    hook = ProgressBarHook()
    runner.register_hook(hook, 'LOWEST')
    finished = []
    orig_after_run = hook.after_run

    def after_run(r):
        finished.extend((t.description, t.completed, t.total) for t in hook._progress.tasks)
        orig_after_run(r)

    hook.after_run = after_run
    runner._rebuild_tables()
    runner.run([make_loader(3), make_loader(2)], [('train', 1), ('val', 1)])
    assert finished == [('train epoch 1', 3, 3), ('val', 2, 2), ('train epoch 2', 3, 3), ('val', 2, 2)]
    assert hook._progress is None
