"""Models with mmclassification 0.x semantics: ImageClassifier, backbones, necks, heads, init_cfg."""
from . import layers
from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .base import (INIT_TYPES, BaseModule, ModuleDict, ModuleList, Sequential, initialize,
                   load_pretrained, load_state_dict)
from .classifier import ImageClassifier
from .heads import CrossEntropyLoss, LinearClsHead, topk_accuracy
from .necks import GlobalAveragePooling

__all__ = sorted({'BaseModule', 'ModuleDict', 'ModuleList', 'Sequential', 'CrossEntropyLoss',
                  'GlobalAveragePooling', 'INIT_TYPES', 'ImageClassifier', 'LinearClsHead',
                  'initialize', 'layers', 'load_pretrained', 'load_state_dict', 'topk_accuracy',
                  *_backbones})
