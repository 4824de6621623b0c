"""The oracle environment is what the interop tests claim it is."""
import mmcls
import mmcv
import torch


def test_the_oracle_is_mmcv_1_7_2_and_mmcls_0_25_beside_this_torch(mmcls_configs):
    assert mmcv.__version__ == '1.7.2'
    assert mmcls.__version__ == '0.25.0'
    assert torch.__version__.startswith('2.13.0')
    from mmcv import runner  # noqa: F401  (torchvision: the real one or the stand-in)
    from mmcv import Config
    cfg = Config.fromfile(f'{mmcls_configs}/resnet/resnet18_8xb16_cifar10.py')
    assert cfg.model.backbone.type == 'ResNet_CIFAR'
