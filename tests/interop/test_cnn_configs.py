"""mmcls 0.25's convolutional configs (ResNet-18 CIFAR, ResNet-50, LeNet-5, MobileNetV2) with
fastrun alone.

For each real config file, read by fastrun's ``Config``: the model section builds with
fastrun's registry alone, with the state_dict keys, order and shapes of mmcls's model of the
same section, which loads into it strictly and then gives the same test scores; and the file
trains one epoch with ``fastrun train``, evaluation included, through a child config that
changes only the data (a few generated images in the layout of the real data: channels and
size) and the schedule's length. A case whose backbone type fastrun does not register yet is
skipped, saying which, so it turns on by itself once that backbone exists.
"""
import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch

from fastrun.builder import build_model
from fastrun.cli import main
from fastrun.config import Config
from fastrun.registry import MODELS

# name -> (image channels, the test's image size): CIFAR's 32, LeNet's 32 (its Resize), and
# 32 for the ImageNet models (their strides reduce it to 1x1; 224 is too slow for a unit test).
CONFIGS = {
    'resnet/resnet18_8xb16_cifar10.py': (3, 32),
    'resnet/resnet50_8xb32_in1k.py': (3, 32),
    'lenet/lenet5_mnist.py': (1, 32),
    'mobilenet_v2/mobilenet-v2_8xb32_in1k.py': (3, 32),
}


def _real(mmcls_configs, name):
    cfg = Config.fromfile(osp.join(mmcls_configs, name))
    backbone = cfg.model.backbone.type
    if MODELS.get(backbone) is None:
        pytest.skip(f'fastrun has no {backbone} backbone yet')
    return cfg


@pytest.mark.parametrize('name', list(CONFIGS))
def test_model_section_builds_like_mmcls(name, mmcls_configs):
    from mmcls.models import build_classifier
    model_cfg = _real(mmcls_configs, name).model.to_dict()
    torch.manual_seed(0)
    theirs = build_classifier(copy.deepcopy(model_cfg))
    theirs.init_weights()
    ours = build_model(copy.deepcopy(model_cfg))
    assert type(ours.head).__name__ == model_cfg['head']['type']
    assert type(ours.head.compute_loss).__name__ == model_cfg['head']['loss']['type']
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, v.shape) for k, v in theirs.state_dict().items()]
    ours.load_state_dict(theirs.state_dict(), strict=True)
    chans, size = CONFIGS[name]
    img = torch.rand(2, chans, size, size, generator=torch.Generator().manual_seed(0))
    theirs.eval(), ours.eval()
    with torch.no_grad():
        np.testing.assert_allclose(np.stack(ours(img, return_loss=False)),
                                   np.stack(theirs(img, return_loss=False)), atol=1e-5)


def _child_config(path, real, chans, size):
    num_classes = real.model.head.get('num_classes', 10)

    def synthetic(n, seed):
        return dict(_delete_=True, type='SyntheticClassification', num_samples=n,
                    shape=(chans, size, size), num_classes=num_classes, seed=seed)
    text = f"""_base_ = [{real.filename!r}]
data = dict(samples_per_gpu=4, workers_per_gpu=0, train={synthetic(8, 0)!r},
            val={synthetic(4, 1)!r}, test={synthetic(4, 1)!r})
evaluation = dict(interval=1, metric='accuracy')
checkpoint_config = dict(interval=10)
log_config = dict(interval=1)
runner = dict(type='EpochBasedRunner', max_epochs=1)
"""
    with open(path, 'w') as f:
        f.write(text)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_real_config_trains_one_epoch_with_evaluation(name, mmcls_configs, tmp_path):
    real = _real(mmcls_configs, name)
    child = tmp_path / 'child.py'
    _child_config(child, real, *CONFIGS[name])
    work = tmp_path / 'work'
    torch.manual_seed(0)
    assert main(['train', str(child), '--work-dir', str(work)]) in (0, None)
    logs = [json.loads(line) for f in work.glob('*.log.json')
            for line in f.read_text().splitlines()]
    train = [r for r in logs if r.get('mode') == 'train']
    val = [r for r in logs if r.get('mode') == 'val']
    assert train and all(np.isfinite(r['loss']) for r in train)
    assert train[-1]['iter'] == 2
    assert val and 'accuracy_top-1' in val[-1]
