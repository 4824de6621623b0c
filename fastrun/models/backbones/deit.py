"""``DistilledVisionTransformer``: DeiT with its distillation token (mmcls 0.x's)."""
import torch
import torch.nn as nn

from ...registry import MODELS
from ..layers import trunc_normal_
from .vision_transformer import VisionTransformer

__all__ = ['DistilledVisionTransformer']


@MODELS.register_module()
class DistilledVisionTransformer(VisionTransformer):
    """A ``VisionTransformer`` (default arch ``deit-base``) with a second extra token, ``dist_token``.

    Each output is ``[patch_token, cls_token, dist_token]`` (for ``DeiTClsHead``); the position
    embedding has two extra rows. Other arguments are :class:`VisionTransformer`'s.
    """

    num_extra_tokens = 2  # cls_token, dist_token

    def __init__(self, arch='deit-base', *args, **kwargs):
        super().__init__(arch, *args, **kwargs)
        self.dist_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))

    def _extra_tokens(self, batch):
        return [self.cls_token.expand(batch, -1, -1), self.dist_token.expand(batch, -1, -1)]

    def init_weights(self):
        super().init_weights()
        if not self._pretrained():
            trunc_normal_(self.dist_token, std=0.02)
