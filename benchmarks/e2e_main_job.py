"""End to end: ``fastrun train configs/digits_cnn.py`` against a hand-written loop doing the same work.

Not a test (pytest does not collect it): a script that times whole processes, as a user sees
them, from the command to the end of the process.

    python benchmarks/e2e_main_job.py                  # 3 rounds, each runs both, alternating
    python benchmarks/e2e_main_job.py --rounds 5 --num-threads 2

The hand-written loop is :func:`hand_written` below, run as its own process
(``e2e_main_job.py --hand-written WORK_DIR``). It does what the config asks of fastrun, the way
a careful person writes it without a framework: the digits read from scikit-learn's data file
with NumPy (no scikit-learn import), the same stratified split and normalisation, the same
CNN, loss (label smoothing 0.1), SGD with momentum and weight decay, linear warmup over the
first 40 iterations then cosine annealing per epoch, 12 epochs of batches of 32 indexed from
in-memory tensors, the loss logged every 10 iterations (a text log and a JSON log, one host
sync each), top-1/top-5 accuracy on the val split after every epoch, a checkpoint per epoch
(model and optimizer state, keeping the last 2, a ``latest.pth`` link) and the best one kept
as ``best_*.pth``. It sets the same number of intra-op threads as the fastrun run.

Each round runs both commands in fresh processes (imports, data, training, exit), in
alternating order; the script prints every run's wall-clock and CPU time, the minimum and
median of each, their ratio, and the load average before and after (a loaded machine makes
the wall-clock numbers longer and noisier, ratios within a round hold up better).
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIG = os.path.join(ROOT, 'configs', 'digits_cnn.py')


# ---------------------------------------------------------------------------- the hand-written loop
def hand_written(work_dir, num_threads):
    """The main job without fastrun: what one writes by hand to train the digits CNN."""
    import gzip
    import importlib.util
    import json
    import math

    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    if num_threads:
        torch.set_num_threads(num_threads)
    torch.manual_seed(0)
    os.makedirs(work_dir, exist_ok=True)
    log = open(os.path.join(work_dir, 'train.log'), 'w')
    log_json = open(os.path.join(work_dir, 'train.log.json'), 'w')

    # data: the bundled 8x8 digits, split per class with a seeded shuffle (15 % val, 15 % test)
    folder = importlib.util.find_spec('sklearn').submodule_search_locations[0]
    with gzip.open(os.path.join(folder, 'datasets', 'data', 'digits.csv.gz'), 'rt') as f:
        raw = np.loadtxt(f, delimiter=',')
    images, labels = raw[:, :-1].reshape(-1, 1, 8, 8), raw[:, -1].astype(np.int64)
    rng = np.random.RandomState(0)
    train_idx, val_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_out = int(np.floor(len(idx) * 0.15 + 0.5))
        val_idx.append(idx[n_out:2 * n_out])
        train_idx.append(idx[2 * n_out:])
    train_idx, val_idx = np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))
    x = torch.from_numpy(((images / 16.0 - 0.3053) / 0.3760).astype(np.float32))
    y = torch.from_numpy(labels)
    x_train, y_train, x_val, y_val = x[train_idx], y[train_idx], x[val_idx], y[val_idx]

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    model = nn.Sequential(*block(1, 32), nn.MaxPool2d(2, ceil_mode=True), *block(32, 64),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    epochs, batch, base_lr, warmup = 12, 32, 0.1, 40
    steps = math.ceil(len(x_train) / batch)
    best, best_path, it = -1.0, None, 0
    for epoch in range(epochs):
        model.train()
        epoch_lr = 0.5 * base_lr * (1 + math.cos(math.pi * epoch / epochs))  # cosine, per epoch
        order = torch.randperm(len(x_train))
        for i in range(steps):
            lr = epoch_lr * (0.1 + 0.9 * it / warmup) if it < warmup else epoch_lr
            for group in optimizer.param_groups:
                group['lr'] = lr
            idx = order[i * batch:(i + 1) * batch]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            it += 1
            if (i + 1) % 10 == 0:
                value = loss.item()  # the one host sync of a log interval
                line = f'Epoch [{epoch + 1}][{i + 1}/{steps}] lr: {lr:.4e}, loss: {value:.4f}'
                print(line, file=sys.stderr)
                log.write(line + '\n')
                log_json.write(json.dumps(dict(mode='train', epoch=epoch + 1, iter=i + 1, lr=lr,
                                               loss=value)) + '\n')
        model.eval()
        with torch.no_grad():
            scores = torch.cat([model(x_val[j:j + batch]) for j in range(0, len(x_val), batch)])
        top5 = scores.topk(5, dim=1).indices
        top1 = float((top5[:, 0] == y_val).float().mean()) * 100
        top5 = float((top5 == y_val[:, None]).any(1).float().mean()) * 100
        line = f'Epoch(val) [{epoch + 1}] accuracy_top-1: {top1:.4f}, accuracy_top-5: {top5:.4f}'
        print(line, file=sys.stderr)
        log.write(line + '\n')
        log_json.write(json.dumps(dict(mode='val', epoch=epoch + 1, top1=top1, top5=top5)) + '\n')
        path = os.path.join(work_dir, f'epoch_{epoch + 1}.pth')
        torch.save(dict(state_dict=model.state_dict(), optimizer=optimizer.state_dict(),
                        meta=dict(epoch=epoch + 1, iter=it)), path)
        link = os.path.join(work_dir, 'latest.pth')
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.basename(path), link)
        if epoch >= 2:
            os.remove(os.path.join(work_dir, f'epoch_{epoch - 1}.pth'))
        if top1 > best:
            if best_path is not None:
                os.remove(best_path)
            best, best_path = top1, os.path.join(work_dir, f'best_accuracy_top-1_epoch_{epoch + 1}.pth')
            shutil.copyfile(path, best_path)
    log.close()
    log_json.close()


# ---------------------------------------------------------------------------- timing
def _timed(cmd, env):
    """(wall seconds, CPU seconds of the child, return code) of ``cmd`` run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f'{" ".join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
    last = [line for line in proc.stderr.splitlines() if 'Epoch(val) [12]' in line]
    return wall, cpu, last[-1].split('accuracy_top-1: ')[1][:7] if last else '?'


def _median(values):
    s = sorted(values)
    return (s[len(s) // 2] + s[(len(s) - 1) // 2]) / 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--num-threads', type=int, default=None,
                        help="both runs' intra-op threads (default: the config's num_threads)")
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--hand-written', metavar='WORK_DIR', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hand_written:
        hand_written(args.hand_written, args.num_threads)
        return 0

    threads = args.num_threads
    if threads is None:
        sys.path.insert(0, ROOT)
        from fastrun.config import Config
        threads = Config.fromfile(args.config).get('num_threads')
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    print(f'load average before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores; '
          f'intra-op threads: {threads or "torch default"}', flush=True)
    times = {'fastrun': [], 'hand-written': []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            runs = [('fastrun', [sys.executable, '-m', 'fastrun', 'train', args.config,
                                 '--work-dir', os.path.join(tmp, f'fastrun{r}')]
                     + (['--num-threads', str(threads)] if threads else [])),
                    ('hand-written', [sys.executable, os.path.abspath(__file__), '--hand-written',
                                      os.path.join(tmp, f'hand{r}')]
                     + (['--num-threads', str(threads)] if threads else []))]
            for name, cmd in (runs if r % 2 == 0 else runs[::-1]):
                wall, cpu, top1 = _timed(cmd, env)
                times[name].append(wall)
                print(f'round {r + 1}  {name:12s}  wall {wall:6.2f} s  cpu {cpu:6.2f} s  '
                      f'val top-1 {top1}  load {os.getloadavg()[0]:.2f}', flush=True)
    f, h = times['fastrun'], times['hand-written']
    print(f'fastrun       min {min(f):6.2f} s  median {_median(f):6.2f} s')
    print(f'hand-written  min {min(h):6.2f} s  median {_median(h):6.2f} s')
    print(f'fastrun / hand-written: {min(f) / min(h):.2f}x (min), {_median(f) / _median(h):.2f}x (median); '
          f'per round: {", ".join(f"{a / b:.2f}x" for a, b in zip(f, h))}')
    print(f'load average after: {os.getloadavg()[0]:.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
