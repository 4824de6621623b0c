"""MMClassification 0.25's own configs train with fastrun alone: one epoch, evaluation included.

The configs are read from the installed mmcls package (they are not part of this project) and
run unchanged by ``fastrun train`` from a folder holding tiny generated data in the layout each
config names (``data/imagenet``, ``data/cifar10``, ``data/mnist``). The command runs in a child
process where importing mmcv or mmcls fails, so every type comes from fastrun. Only the sizes
of the run are overridden on the command line (batch size, workers, epochs, log and eval
intervals), as a user trying a config on a laptop would.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from . import layouts

# Imports of mmcv and mmcls fail in the child: fastrun alone builds and trains the config.
_ALONE = r'''
import importlib.abc, sys
class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('mmcv', 'mmcls'):
            raise ImportError(f'{name} is not used: fastrun alone trains this config')
sys.meta_path.insert(0, _Refuse())
from fastrun.cli import main
sys.exit(main(sys.argv[1:]))
'''

CASES = {
    'resnet/resnet18_8xb16_cifar10.py': layouts.make_cifar10,
    'resnet/resnet50_8xb32_in1k.py': layouts.make_imagenet,
    'lenet/lenet5_mnist.py': layouts.make_mnist,
    'mobilenet_v2/mobilenet-v2_8xb32_in1k.py': layouts.make_imagenet,
    'vision_transformer/vit-base-p16_pt-64xb64_in1k-224.py': layouts.make_imagenet,
    'swin_transformer/swin-tiny_16xb64_in1k.py': layouts.make_imagenet,
}


@pytest.mark.parametrize('config', sorted(CASES))
def test_a_real_config_trains_one_epoch_and_evaluates(config, mmcls_configs, tmp_path):
    CASES[config](str(tmp_path))
    work_dir = tmp_path / 'work'
    options = ['data.samples_per_gpu=2', 'data.workers_per_gpu=0', 'runner.max_epochs=1',
               'evaluation.interval=1', 'log_config.interval=1']
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.run(
        [sys.executable, '-c', _ALONE, 'train', osp.join(mmcls_configs, config),
         '--work-dir', str(work_dir), '--cfg-options', *options],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work_dir / 'epoch_1.pth').is_file()
    logs = sorted(work_dir.glob('*.log.json'))
    records = [json.loads(line) for line in logs[-1].read_text().splitlines()]
    train = [r for r in records if r.get('mode') == 'train']
    evals = [r for r in records if r.get('mode') == 'val']
    assert train and all(r['loss'] == r['loss'] for r in train)  # finite, logged each iteration
    assert len(evals) == 1 and 0.0 <= evals[0]['accuracy_top-1'] <= 100.0
