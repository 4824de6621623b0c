"""``fastrun plot``: curves laid end to end over epochs, unknown keys refused, the image saved."""
import json
import os
import sys

import pytest

from fastrun.cli import main
from fastrun.plot import read_log, series

PNG = b'\x89PNG\r\n\x1a\n'


def write_log(path, records):
    with open(path, 'w') as f:
        f.write(json.dumps({'seed': 0, 'exp_name': 'x.py', 'config': 'x = 1\n'}) + '\n')
        for r in records:
            f.write(json.dumps(r) + '\n')
    return path


def epoch_log(path, epochs=3, per_epoch=40, interval=10):
    """What TextLoggerHook writes for an epoch-based run with an evaluation per epoch."""
    records = []
    for epoch in range(1, epochs + 1):
        for it in range(interval, per_epoch + 1, interval):
            records.append(dict(mode='train', epoch=epoch, iter=it, lr=0.1,
                                loss=3.0 / (epoch * per_epoch + it), time=0.01))
        records.append(dict(mode='val', epoch=epoch, iter=9, lr=0.1, **{'accuracy_top-1': 50.0 + epoch}))
    return write_log(path, records)


def test_train_values_go_on_the_global_iteration_val_metrics_on_epochs(tmp_path):
    records = read_log(epoch_log(tmp_path / 'a.log.json'))
    curves, xlabel = series(records, 'loss')
    xs, ys = curves['train']
    # Before: x was the iteration within the epoch (10..40), each epoch folding back.
    assert xs == list(range(10, 121, 10)) and xlabel == 'iteration'
    assert ys == sorted(ys, reverse=True)
    curves, xlabel = series(records, 'accuracy_top-1')
    assert curves == {'val': ([1, 2, 3], [51.0, 52.0, 53.0])} and xlabel == 'epoch'


def test_a_key_logged_in_train_and_val_shares_the_iteration_axis(tmp_path):
    records = [dict(mode='train', epoch=e, iter=i, loss=1.0) for e in (1, 2) for i in (5, 10)]
    records += [dict(mode='val', epoch=e, iter=3, loss=2.0) for e in (1, 2)]
    curves, xlabel = series(read_log(write_log(tmp_path / 'b.log.json', records)), 'loss')
    assert curves['train'][0] == [5, 10, 15, 20] and curves['val'][0] == [10, 20]


def test_iteration_based_logs_keep_their_iterations(tmp_path):
    records = [dict(mode='train', epoch=1, iter=i, loss=1.0) for i in (100, 200, 300, 400)]
    records += [dict(mode='val', epoch=1, iter=i, accuracy=9.0) for i in (200, 400)]
    log = read_log(write_log(tmp_path / 'c.log.json', records))
    assert series(log, 'loss')[0]['train'][0] == [100, 200, 300, 400]
    assert series(log, 'accuracy') == ({'val': ([200, 400], [9.0, 9.0])}, 'iteration')


def test_without_out_the_image_goes_next_to_the_log(tmp_path, capsys):
    log = epoch_log(tmp_path / '20261128_101500.log.json')
    assert main(['plot', str(log), '--keys', 'loss', 'accuracy_top-1']) == 0
    image = tmp_path / '20261128_101500_loss_accuracy_top-1.png'
    assert capsys.readouterr().out.strip() == f'saved {image}'
    assert image.read_bytes()[:8] == PNG


def test_out_and_two_logs_with_a_legend(tmp_path, capsys):
    a, b = epoch_log(tmp_path / 'a.log.json'), epoch_log(tmp_path / 'b.log.json', epochs=2)
    out = tmp_path / 'both.png'
    assert main(['plot', str(a), str(b), '--legend', 'long', 'short', '--out', str(out)]) == 0
    assert out.read_bytes()[:8] == PNG and capsys.readouterr().out.strip() == f'saved {out}'


def test_an_unknown_key_is_an_error_listing_the_keys_there(tmp_path, capsys):
    log = epoch_log(tmp_path / 'a.log.json')
    assert main(['plot', str(log), '--keys', 'los']) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"fastrun: error: {log}: --keys: 'los' not in the log; the keys there: lr, loss, "
                   f"time, accuracy_top-1")
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.png')]


def test_the_text_log_instead_of_the_json_one(tmp_path, capsys):
    text = tmp_path / 'run.log'
    text.write_text('2026-11-28 10:15:00,000 - fastrun - INFO - Epoch [1][10/40]\tloss: 1.0\n')
    assert main(['plot', str(text)]) == 2
    assert 'line 1 is not JSON' in capsys.readouterr().err


def test_without_matplotlib_the_error_names_the_extra(tmp_path, capsys, monkeypatch):
    log = epoch_log(tmp_path / 'a.log.json')
    for name in [m for m in sys.modules if m == 'matplotlib' or m.startswith('matplotlib.')]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    assert main(['plot', str(log)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ('fastrun: error: fastrun plot needs matplotlib: pip install fastrun[plot] (in a '
                   'clone of the repository: pip install -e ".[plot]")')
    # The README gives the same two commands.
    with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), 'README.md')) as f:
        readme = f.read()
    assert '`pip install fastrun[plot]`' in readme and '`pip install -e ".[plot]"`' in readme


@pytest.mark.parametrize('name', ['missing.log.json'])
def test_a_missing_log(tmp_path, capsys, name):
    assert main(['plot', str(tmp_path / name)]) == 2
    assert capsys.readouterr().err.strip() == f'fastrun: error: {tmp_path / name}: log file not found'


def test_a_val_phase_and_an_evaluation_are_placed_where_they_happened(tmp_path):
    # workflow = [('train', 1), ('val', 1)] with an EvalHook: per epoch, the evaluation's
    # metrics and the val phase's loss, both logged with the val epoch's inner iter (9). They
    # were all drawn at x=9, one vertical line.
    records = []
    for epoch in (1, 2, 3):
        records += [dict(mode='train', epoch=epoch, iter=i, loss=1.0 / epoch) for i in (20, 40)]
        records.append(dict(mode='val', epoch=epoch, iter=9, **{'accuracy_top-1': 50.0 + epoch}))
        records.append(dict(mode='val', epoch=epoch, iter=9, loss=2.0 / epoch))
    log = read_log(write_log(tmp_path / 'v.log.json', records))
    curves, xlabel = series(log, 'loss')
    assert curves['val'] == ([40, 80, 120], [2.0, 1.0, 2.0 / 3]) and xlabel == 'iteration'
    assert series(log, 'accuracy_top-1') == ({'val': ([1, 2, 3], [51.0, 52.0, 53.0])}, 'epoch')


def test_an_iteration_based_val_phase_goes_after_its_train_iterations(tmp_path):
    records = []
    for k in (1, 2, 3):
        records += [dict(mode='train', epoch=1, iter=100 * k - 50 + i, loss=1.0) for i in (0, 50)]
        records.append(dict(mode='val', epoch=1, iter=9, loss=2.0))  # its inner iteration
    log = read_log(write_log(tmp_path / 'i.log.json', records))
    assert series(log, 'loss')[0]['val'][0] == [100, 200, 300]
    assert series(log, 'loss')[1] == 'iteration'


def test_a_real_val_workflow_run_plots_with_labelled_axes(tmp_path, monkeypatch, capsys):
    from matplotlib.figure import Figure

    from tests.test_cli import BASE
    (tmp_path / 'base.py').write_text(BASE)
    monkeypatch.chdir(tmp_path)
    assert main(['train', 'base.py', '--work-dir', 'w', '--no-progress', '--cfg-options',
                 "workflow=[('train',1),('val',1)]", 'runner.max_epochs=3']) == 0
    [log] = [os.path.join('w', f) for f in os.listdir('w') if f.endswith('.log.json')]
    val = series(read_log(log), 'loss')[0]['val']
    assert val[0] == [4, 8, 12]  # 64 samples / 16 per batch: 4 iterations per epoch
    saved = []
    monkeypatch.setattr(Figure, 'savefig', lambda self, out, **kw: saved.append(self))
    assert main(['plot', log, '--keys', 'loss', 'accuracy_top-1']) == 0
    [fig] = saved
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes] == [
        ('iteration', 'loss'), ('epoch', 'accuracy_top-1')]
