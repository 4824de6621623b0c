"""Layer building blocks by config (mmcv.cnn 1.x's API): norm, activation, conv, padding, dropout.

``build_norm_layer(cfg, num_features, postfix) -> (name, layer)``, ``build_activation_layer``,
``build_conv_layer``, ``build_padding_layer``, ``build_dropout``, ``ConvModule`` and the
per-module initialisers. Their registries (``NORM_LAYERS``, ``ACTIVATION_LAYERS``,
``CONV_LAYERS``, ``PADDING_LAYERS``, ``DROPOUT_LAYERS``) live in :mod:`fastrun.registry`;
``register_module`` there adds a layer type every model config can name.
"""
from .activation import Clamp, HSigmoid, Swish, build_activation_layer
from .conv import ConvModule, build_conv_layer, build_padding_layer
from .drop import DropPath, Dropout, build_dropout, drop_path
from .norm import build_norm_layer, infer_abbr, is_norm
from .weight_init import (bias_init_with_prob, caffe2_xavier_init, constant_init, kaiming_init,
                          normal_init, trunc_normal_, trunc_normal_init, uniform_init, xavier_init)

__all__ = ['Clamp', 'ConvModule', 'DropPath', 'Dropout', 'HSigmoid', 'Swish',
           'bias_init_with_prob', 'build_activation_layer', 'build_conv_layer', 'build_dropout',
           'build_norm_layer', 'build_padding_layer', 'caffe2_xavier_init', 'constant_init',
           'drop_path', 'infer_abbr', 'is_norm', 'kaiming_init', 'normal_init', 'trunc_normal_',
           'trunc_normal_init', 'uniform_init', 'xavier_init']
