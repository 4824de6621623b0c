"""Weight initialisers for one module (mmcv.cnn's ``constant_init``, ``kaiming_init``, ...)."""
import math

import torch.nn as nn

__all__ = ['bias_init_with_prob', 'caffe2_xavier_init', 'constant_init', 'kaiming_init',
           'normal_init', 'trunc_normal_', 'trunc_normal_init', 'uniform_init', 'xavier_init']


def _bias(module, bias):
    if getattr(module, 'bias', None) is not None:
        nn.init.constant_(module.bias, bias)


def _weight(module):
    return getattr(module, 'weight', None)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Fill ``tensor`` from N(mean, std) truncated to ``[a, b]`` (absolute bounds), in place."""
    return nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)


def constant_init(module, val, bias=0):
    if _weight(module) is not None:
        nn.init.constant_(module.weight, val)
    _bias(module, bias)


def xavier_init(module, gain=1, bias=0, distribution='normal'):
    if distribution not in ('uniform', 'normal'):
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")
    if _weight(module) is not None:
        (nn.init.xavier_uniform_ if distribution == 'uniform' else nn.init.xavier_normal_)(
            module.weight, gain=gain)
    _bias(module, bias)


def normal_init(module, mean=0, std=1, bias=0):
    if _weight(module) is not None:
        nn.init.normal_(module.weight, mean, std)
    _bias(module, bias)


def trunc_normal_init(module, mean=0, std=1, a=-2, b=2, bias=0):
    if _weight(module) is not None:
        trunc_normal_(module.weight, mean, std, a, b)
    _bias(module, bias)


def uniform_init(module, a=0, b=1, bias=0):
    if _weight(module) is not None:
        nn.init.uniform_(module.weight, a, b)
    _bias(module, bias)


def kaiming_init(module, a=0, mode='fan_out', nonlinearity='relu', bias=0, distribution='normal'):
    if distribution not in ('uniform', 'normal'):
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")
    if _weight(module) is not None:
        fn = nn.init.kaiming_uniform_ if distribution == 'uniform' else nn.init.kaiming_normal_
        fn(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _bias(module, bias)


def caffe2_xavier_init(module, bias=0):
    """Caffe2's XavierFill: kaiming uniform, fan_in, a=1."""
    kaiming_init(module, a=1, mode='fan_in', nonlinearity='leaky_relu', bias=bias,
                 distribution='uniform')


def bias_init_with_prob(prior_prob):
    """The bias making ``sigmoid(bias) == prior_prob``."""
    return float(-math.log((1 - prior_prob) / prior_prob))
