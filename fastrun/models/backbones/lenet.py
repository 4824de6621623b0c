"""``LeNet5`` (mmcls 0.x's arguments and keys)."""
import torch.nn as nn

from ...registry import MODELS
from ..base import BaseModule

__all__ = ['LeNet5']


@MODELS.register_module()
class LeNet5(BaseModule):
    """LeNet-5 for 1x32x32 images: ``features`` (three 5x5 convs with tanh, two average pools)
    then, with ``num_classes > 0``, ``classifier`` (120 -> 84 -> num_classes). Returns a
    one-tuple: the 120x1x1 features, or the scores. (mmcls squeezes the features before the
    classifier, which breaks a batch of one; fastrun flattens them.)"""

    def __init__(self, num_classes=-1, init_cfg=None):
        super().__init__(init_cfg)
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, stride=1), nn.Tanh(), nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(6, 16, kernel_size=5, stride=1), nn.Tanh(), nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(16, 120, kernel_size=5, stride=1), nn.Tanh())
        if num_classes > 0:
            self.classifier = nn.Sequential(nn.Linear(120, 84), nn.Tanh(),
                                            nn.Linear(84, num_classes))

    def forward(self, x):
        x = self.features(x)
        if self.num_classes > 0:
            x = self.classifier(x.flatten(1))
        return (x,)
