"""The fast path: no host syncs between log intervals, NVTX tables swapped only when asked,
hooks whose attribute access registration leaves on CPython's fast path."""
import ctypes
import sys

import pytest
import torch

import fastrun
from fastrun import Hook, Runner
from tests.conftest import make_loader

SYNC_METHODS = ('item', 'tolist', 'cpu', 'numpy', '__float__', '__bool__', '__int__', '__index__')


class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def train_step(self, data, optimizer=None, **kwargs):
        x, y = data
        logits = self.fc(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), (y.abs() * 10).long().view(-1) % 3)
        acc = (logits.argmax(1) == 0).float().mean()
        return dict(loss=loss, log_vars={'loss': loss.detach(), 'acc': acc.detach()}, num_samples=len(x))


@pytest.fixture
def sync_counter(monkeypatch):
    """Counts real calls of the Tensor methods that copy a value to the host."""
    counts = {'n': 0}
    for name in SYNC_METHODS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            counts['n'] += 1
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, counted)
    return counts


@pytest.mark.parametrize('amp', [None, 'bfloat16'])
def test_no_host_sync_in_iterations_that_do_not_log(core, tmp_path, sync_counter, amp):
    torch.manual_seed(0)
    model = Classifier()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), work_dir=str(tmp_path),
                    max_iters=12)
    optimizer_config = dict(grad_clip=dict(max_norm=1.0))
    if amp:
        optimizer_config['amp'] = dict(dtype=amp)
    runner.register_training_hooks(
        lr_config=dict(policy='step', step=[6], warmup='linear', warmup_iters=3),
        optimizer_config=optimizer_config,
        checkpoint_config=dict(interval=100),
        log_config=dict(interval=4, hooks=[dict(type='TextLoggerHook')]),
        momentum_config=None)
    per_iter = []

    class Start(Hook):
        def before_train_iter(self, r):
            self.count = sync_counter['n']

    class End(Hook):
        def after_train_iter(self, r):
            per_iter.append(sync_counter['n'] - start.count)

    start = Start()
    runner.register_hook(start, 'HIGHEST')  # first at before_train_iter
    runner.register_hook(End(), 'LOWEST')   # last at after_train_iter: the whole iteration counted
    runner.run([make_loader(6, batch_size=4)], [('train', 12)])
    assert len(per_iter) == 12
    logging_iters = {3, 7, 11}  # interval 4: the logger averages at iterations 4, 8, 12
    for i, n in enumerate(per_iter):
        if i in logging_iters:
            assert n > 0, f'iteration {i} logs: it must materialise the values'
        else:
            assert n == 0, f'iteration {i} synced {n} times'


def test_nvtx_tables_are_swapped_in_only_when_enabled(core):
    pytest.importorskip('nvtx')
    trace = []

    class A(Hook):
        def after_train_iter(self, r):
            trace.append(('A', r.iter))

    runner = Runner(fastrun_model(), max_epochs=1)
    hook = A()
    runner.register_hook(hook)
    plain = runner._dispatch.table('after_train_iter')
    assert plain == (hook.after_train_iter,)
    runner.enable_nvtx()
    annotated = runner._dispatch.table('after_train_iter')
    assert len(annotated) == 3  # stage range push, the hook in its range, stage range pop
    assert annotated[1].__wrapped__ == hook.after_train_iter
    assert runner._dispatch.table('before_run') == ()  # nothing registered there: nothing added
    runner.run([make_loader(3)], [('train', 1)])
    assert trace == [('A', 0), ('A', 1), ('A', 2)]
    runner.enable_nvtx(False)
    assert runner._dispatch.table('after_train_iter') == plain


def test_nvtx_from_the_environment(core, monkeypatch):
    pytest.importorskip('nvtx')
    monkeypatch.setenv('FASTRUN_NVTX', '1')
    runner = Runner(fastrun_model(), max_epochs=1)
    assert runner._nvtx is not None
    monkeypatch.setenv('FASTRUN_NVTX', '0')
    assert Runner(fastrun_model(), max_epochs=1)._nvtx is None


def test_errors_still_name_the_hook_with_nvtx(core):
    pytest.importorskip('nvtx')

    class Boom(Hook):
        def after_train_iter(self, r):
            raise RuntimeError('boom')

    runner = Runner(fastrun_model(), max_epochs=1)
    runner.register_hook(Boom())
    runner.enable_nvtx()
    with pytest.raises(RuntimeError, match='after_train_iter of Boom: boom'):
        runner.run([make_loader(2)], [('train', 1)])


def fastrun_model():
    from tests.conftest import ToyModel
    return ToyModel()


@pytest.mark.cuda
def test_prefetcher_delivers_batches_on_the_device_in_order():
    from fastrun.step import DeviceLoader
    batches = [{'img': torch.full((2, 3), float(i)).pin_memory()} for i in range(5)]
    got = [b['img'] for b in DeviceLoader(batches, 'cuda')]
    assert all(t.is_cuda for t in got)
    assert [int(t[0, 0].item()) for t in got] == list(range(5))


def test_gpu_check_script_says_no_cuda_on_cpu():
    import subprocess
    import sys
    if torch.cuda.is_available():
        pytest.skip('has CUDA: the script runs for real (benchmarks/gpu_check.py)')
    out = subprocess.run([sys.executable, 'benchmarks/gpu_check.py'], capture_output=True, text=True,
                         cwd=__file__.rsplit('/tests/', 1)[0])
    assert out.returncode == 0 and 'no CUDA device' in out.stdout


class ConvModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.seen = []

    def train_step(self, data, optimizer=None, **kwargs):
        self.seen.append(data['img'].is_contiguous(memory_format=torch.channels_last))
        loss = self(data['img']).mean()
        return dict(loss=loss, log_vars={'loss': loss.detach()}, num_samples=len(data['img']))

    def forward(self, x):
        return self.conv(x)


def test_channels_last_model_and_batches(core):
    from fastrun.builder import prepare_model
    from fastrun.step import DeviceLoader
    model = prepare_model(ConvModel(), {'channels_last': True}, torch.device('cpu'))
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    loader = DeviceLoader([{'img': torch.randn(2, 3, 8, 8)} for _ in range(3)], 'cpu', channels_last=True)
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), max_epochs=1)
    runner.register_training_hooks(None, optimizer_config=dict())
    runner.run([loader], [('train', 1)])
    assert model.seen == [True, True, True]


def test_compiled_model_trains_like_the_eager_one():
    from fastrun.builder import prepare_model
    from tests.conftest import ToyModel
    results = []
    for compile_cfg in (None, dict(dynamic=False)):
        torch.manual_seed(0)
        model = prepare_model(ToyModel(), {'compile': compile_cfg}, torch.device('cpu'))
        runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), max_epochs=1)
        runner.register_training_hooks(None, optimizer_config=dict())
        runner.run([make_loader(3)], [('train', 1)])
        results.append([p.detach().clone() for p in model.parameters()])
        assert isinstance(model, torch.nn.Module) and hasattr(model, 'train_step')
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-6)


# -- registration leaves a hook's attributes where CPython reads them fastest -------------------

#: CPython versions whose object layout ``_dict_materialised`` knows (checked on each of them).
_KNOWN_LAYOUT = sys.implementation.name == 'cpython' and (3, 11) <= sys.version_info[:2] <= (3, 13)


def _dict_materialised(obj):
    """Whether CPython has replaced ``obj``'s inline attribute values by a real dict.

    On 3.11-3.13 an instance of a plain class keeps its attributes in an inline values array,
    and the word three pointers before the object is the dict pointer: NULL (3.11, 3.13) or the
    values pointer tagged with bit 0 (3.12) until something reads ``obj.__dict__`` (``vars()``,
    ``copy.copy``); from then on it points to a dict and every ``self.x`` of the object takes
    the slower dict path (40-75 % more per ``self.n += 1`` call). The word is read, never
    written, and reading it materialises nothing.
    """
    word = ctypes.c_size_t.from_address(id(obj) - 3 * ctypes.sizeof(ctypes.c_void_p)).value
    return word != 0 and not word & 1


class _Counter(Hook):
    """A hook that keeps state, as real hooks do."""

    def __init__(self):
        self.n = 0

    def before_train_iter(self, runner):
        self.n += 1

    def after_iter(self, runner):  # generic: called at train and val iterations
        self.n += 10


@pytest.mark.skipif(not _KNOWN_LAYOUT, reason='the probe knows the object layout of CPython 3.11-3.13')
def test_registering_and_running_hooks_never_materialises_their_dict(core, tmp_path):
    probe_check = _Counter()
    assert not _dict_materialised(probe_check)
    assert 'n' in probe_check.__dict__  # what the registration path must never do
    assert _dict_materialised(probe_check)  # ... and the probe sees it

    counter = _Counter()
    closure = fastrun.ClosureHook('after_train_epoch', lambda r: seen.append(r.epoch))
    seen = []
    model = fastrun_model()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                    work_dir=str(tmp_path), max_epochs=2)
    runner.register_training_hooks(
        lr_config=dict(policy='step', step=[1]), optimizer_config=dict(grad_clip=None),
        checkpoint_config=dict(interval=1), log_config=dict(interval=2, hooks=[dict(type='TextLoggerHook')]))
    runner.register_hook(counter, 'HIGH')
    runner.register_hook(closure)
    runner.get_hook_info()
    runner.run([make_loader(3), make_loader(2)], [('train', 1), ('val', 1)])
    # the hooks did run through their tables: 2 epochs x (3 train iters x 11 + 2 val iters x 10)
    assert counter.n == 2 * (3 * 11 + 2 * 10)
    assert seen == [0, 1]
    assert [type(h).__name__ for h in runner.hooks if _dict_materialised(h)] == []


@pytest.mark.skipif(not _KNOWN_LAYOUT, reason='the probe knows the object layout of CPython 3.11-3.13')
def test_instance_overrides_are_found_without_reading_the_instance_dict():
    from fastrun.hook import stage_method
    closure = fastrun.ClosureHook('after_val_iter', lambda r: None)
    plain = _Counter()
    assert closure.get_triggered_stages() == ['after_val_iter']
    assert plain.get_triggered_stages() == ['before_train_iter', 'after_train_iter', 'after_val_iter']
    assert stage_method(plain, 'after_val_iter') == plain.after_iter
    assert not _dict_materialised(closure) and not _dict_materialised(plain)


# -- the main job's avoidable seconds: thread count, and the exit -------------------------------

def test_num_threads_from_the_config_and_the_command_line(tmp_path):
    from fastrun.cli import main
    from fastrun.config import Config, ConfigError, check_types
    from tests.test_cli import BASE
    cfg = tmp_path / 'threads.py'
    cfg.write_text(BASE + 'runner = dict(type="EpochBasedRunner", max_epochs=1)\nnum_threads = 3\n')
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert main(['train', str(cfg), '--work-dir', str(tmp_path / 'a')]) == 0
        assert torch.get_num_threads() == 3  # the config's
        assert main(['train', str(cfg), '--work-dir', str(tmp_path / 'b'), '--num-threads', '1']) == 0
        assert torch.get_num_threads() == 1  # the command line wins
    finally:
        torch.set_num_threads(before)
    for bad in (0, -1, 1.5, '2'):
        with pytest.raises(ConfigError, match='num_threads'):
            check_types(Config(dict(num_threads=bad), filename='x.py'))
    check_types(Config(dict(num_threads=None), filename='x.py'))


EXIT_PROBE = '''
import atexit, gzip, io, os, threading, time
here = os.path.dirname(os.path.abspath(__file__))
atexit.register(lambda: open(os.path.join(here, 'atexit.txt'), 'w').write('ran'))
_left_open = open(os.path.join(here, 'buffered.txt'), 'w')  # never closed, never flushed
_left_open.write('x' * 100)
_gz = gzip.open(os.path.join(here, 'left_open.gz'), 'wt')   # its trailer is written on close
_gz.write('compressed')
# text over gzip over a file the gzip layer does not own: each layer must close before the next
_raw = open(os.path.join(here, 'nested.gz'), 'wb')
_nested = io.TextIOWrapper(gzip.GzipFile(fileobj=_raw, mode='wb'))
_nested.write('nested')


def _late_writer():
    while threading.main_thread().is_alive():  # until the main thread has ended: the exit
        time.sleep(0.01)
    time.sleep(0.2)
    with open(os.path.join(here, 'thread.txt'), 'w') as f:
        f.write('done')


threading.Thread(target=_late_writer).start()  # non-daemon: the exit waits for it


class _Finalized:
    # bound now: at teardown the module's globals may already be gone
    def __del__(self, _open=open, _path=os.path.join(here, 'finalizer.txt')):
        with _open(_path, 'w') as f:
            f.write('ran')


_obj = _Finalized()
'''


@pytest.mark.parametrize('full_exit', [False, True])
def test_the_command_ends_without_teardown_once_everything_is_written(tmp_path, full_exit):
    import gzip
    import json
    import os
    from tests.test_cli import BASE, run_cli
    (tmp_path / 'exit_probe.py').write_text(EXIT_PROBE)
    cfg = tmp_path / 'probe.py'
    cfg.write_text(BASE + "runner = dict(type='EpochBasedRunner', max_epochs=1)\n"
                          "custom_imports = dict(imports=['exit_probe'])\n")
    if full_exit:
        os.environ['FASTRUN_FULL_EXIT'] = '1'
    try:
        proc = run_cli('train', cfg, '--work-dir', tmp_path / 'w')
    finally:
        os.environ.pop('FASTRUN_FULL_EXIT', None)
    assert proc.returncode == 0
    assert (tmp_path / 'atexit.txt').read_text() == 'ran'
    assert (tmp_path / 'buffered.txt').read_text() == 'x' * 100
    assert (tmp_path / 'thread.txt').read_text() == 'done'
    with gzip.open(tmp_path / 'left_open.gz', 'rt') as f:
        assert f.read() == 'compressed'
    if not full_exit:  # the interpreter's own teardown may close the raw file first (it did here)
        with gzip.open(tmp_path / 'nested.gz', 'rt') as f:
            assert f.read() == 'nested'
    [log] = [p for p in (tmp_path / 'w').iterdir() if p.name.endswith('.log.json')]
    assert json.loads(log.read_text().splitlines()[-1])['mode'] == 'val'
    assert 'Epoch(val) [1]' in proc.stderr  # the last log line reached the terminal
    # what the quick exit skips: the interpreter's teardown (finalizers of objects other than files)
    assert (tmp_path / 'finalizer.txt').exists() == full_exit
