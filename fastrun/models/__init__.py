"""Models with mmclassification 0.x semantics: ImageClassifier, backbones, heads, init_cfg."""
from .backbones import MLP, GlobalAveragePooling, SmallCNN
from .base import (INIT_TYPES, BaseModule, ModuleDict, ModuleList, Sequential, initialize,
                   load_pretrained, load_state_dict)
from .classifier import ImageClassifier
from .heads import CrossEntropyLoss, LinearClsHead, topk_accuracy

__all__ = ['BaseModule', 'ModuleDict', 'ModuleList', 'Sequential', 'CrossEntropyLoss', 'GlobalAveragePooling', 'INIT_TYPES',
           'ImageClassifier', 'LinearClsHead', 'MLP', 'SmallCNN', 'initialize',
           'load_pretrained', 'load_state_dict', 'topk_accuracy']
