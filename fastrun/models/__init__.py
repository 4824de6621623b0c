"""Models with mmclassification 0.x semantics: ImageClassifier, backbones, necks, heads, init_cfg."""
from . import augments, heads, layers, losses, transformer
from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .base import (INIT_TYPES, BaseModule, ModuleDict, ModuleList, Sequential, initialize,
                   load_pretrained, load_state_dict)
from .augments import Augments
from .classifier import ImageClassifier
from .heads import (ClsHead, DeiTClsHead, LinearClsHead, MultiLabelClsHead,
                    MultiLabelLinearClsHead, StackedLinearClsHead, VisionTransformerClsHead)
from .losses import (Accuracy, AsymmetricLoss, CrossEntropyLoss, FocalLoss, LabelSmoothLoss,
                     SeesawLoss, accuracy, topk_accuracy)
from .necks import GlobalAveragePooling

__all__ = sorted({'BaseModule', 'ModuleDict', 'ModuleList', 'Sequential', 'CrossEntropyLoss',
                  'GlobalAveragePooling', 'INIT_TYPES', 'ImageClassifier', 'LinearClsHead',
                  'initialize', 'layers', 'load_pretrained', 'load_state_dict', 'topk_accuracy',
                  'DeiTClsHead', 'VisionTransformerClsHead', 'transformer', *_backbones,
                  'Accuracy', 'AsymmetricLoss', 'Augments', 'ClsHead', 'FocalLoss',
                  'LabelSmoothLoss', 'MultiLabelClsHead', 'MultiLabelLinearClsHead', 'SeesawLoss',
                  'StackedLinearClsHead', 'accuracy', 'augments', 'heads', 'losses'})
