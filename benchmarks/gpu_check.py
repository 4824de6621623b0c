"""GPU check: a small CNN step with and without the prefetcher and AMP, on a CUDA machine.

    python benchmarks/gpu_check.py [--iters 300]

Reports steps/s and the share of each iteration spent waiting for data (IterTimerHook's
``data_time`` / ``time``), checks that no host sync happens between log intervals
(``torch.cuda.set_sync_debug_mode('error')``), and, when ``nsys`` is on the PATH, that the NVTX
ranges of stages and hooks reach an Nsight Systems report. Without CUDA it says so and exits 0.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

import fastrun
from fastrun import Hook, Runner
from fastrun.step import DeviceLoader


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.BatchNorm2d(64), torch.nn.ReLU(),
            torch.nn.Conv2d(64, 128, 3, padding=1, stride=2), torch.nn.BatchNorm2d(128), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(128, 10))

    def train_step(self, data, optimizer=None, **kwargs):
        x, y = data
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        return dict(loss=loss, log_vars={'loss': loss.detach()}, num_samples=len(x))


class SyncGuard(Hook):
    """Makes any host sync an error, except in iterations where the logger logs."""

    def __init__(self, interval):
        self.interval = interval

    def before_train_iter(self, runner):
        logs = (runner.iter + 1) % self.interval == 0
        torch.cuda.set_sync_debug_mode('warn' if logs else 'error')

    def after_run(self, runner):
        torch.cuda.set_sync_debug_mode('default')


def run(prefetch, amp, iters, check_syncs=False):
    torch.manual_seed(0)
    device = torch.device('cuda')
    model = CNN().to(device)
    data = TensorDataset(torch.randn(2048, 3, 64, 64), torch.randint(0, 10, (2048,)))
    loader = DataLoader(data, batch_size=128, shuffle=True, pin_memory=True, num_workers=2,
                        persistent_workers=True)
    if prefetch:
        loader = DeviceLoader(loader, device)
    else:  # the naive way: a blocking copy inside the step
        class Blocking:
            def __init__(self, inner):
                self.inner = inner

            def __len__(self):
                return len(self.inner)

            def __iter__(self):
                for x, y in self.inner:
                    yield x.to(device), y.to(device)
        loader = Blocking(loader)
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                    max_iters=iters, logger=fastrun.get_logger('gpu_check'))
    runner.logger.setLevel('WARNING')
    opt_cfg = dict(grad_clip=None)
    if amp:
        opt_cfg['amp'] = dict(dtype=amp)
    runner.register_training_hooks(None, opt_cfg, None, dict(interval=50, hooks=[]))
    if check_syncs:
        runner.register_hook(SyncGuard(50), 'HIGHEST')
    torch.cuda.synchronize()
    start = time.perf_counter()
    runner.run([loader], [('train', iters)])
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    runner.log_buffer.average()
    out = runner.log_buffer.output
    return iters / elapsed, out.get('data_time', 0.0) / max(out.get('time', 1e-9), 1e-9)


def nsys_check():
    nsys = shutil.which('nsys')
    if nsys is None:
        print('nsys not on PATH: NVTX ranges not checked (run `nsys profile -t cuda,nvtx ...` by hand)')
        return True
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, FASTRUN_NVTX='1')
        cmd = [nsys, 'profile', '-t', 'cuda,nvtx', '-o', f'{tmp}/run', '--force-overwrite', 'true',
               sys.executable, __file__, '--iters', '30', '--no-nsys']
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        stats = subprocess.run([nsys, 'stats', '-r', 'nvtx_sum', f'{tmp}/run.nsys-rep'],
                               capture_output=True, text=True).stdout
    ok = 'after_train_iter/OptimizerHook' in stats and 'forward' in stats or 'step' in stats
    print('NVTX ranges in the nsys report:', 'yes' if ok else 'NO')
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--no-nsys', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print('no CUDA device: nothing to check here (run this on a GPU machine)')
        return 0
    print(f'{torch.cuda.get_device_name()} | torch {torch.__version__} | fastrun core {fastrun.CORE}')
    print(f'{"prefetch":>9} {"amp":>9} {"steps/s":>9} {"data wait":>10}')
    for prefetch in (False, True):
        for amp in (None, 'bfloat16', 'float16'):
            sps, wait = run(prefetch, amp, args.iters)
            print(f'{str(prefetch):>9} {str(amp):>9} {sps:9.1f} {wait:10.1%}')
    if args.no_nsys:
        return 0
    run(True, 'bfloat16', 120, check_syncs=True)
    print('no host sync between log intervals (bf16, prefetch): ok')
    return 0 if nsys_check() else 1


if __name__ == '__main__':
    sys.exit(main())
