"""``AutoAugment``, ``RandAugment`` and the operations their policies name, as mmcls 0.25's.

Randomness as mmcls's: the policy choices and magnitude noise from Python's ``random``
(``random.choice``, ``random.choices``, ``random.uniform`` / ``random.gauss``); each
operation's ``prob`` test, its sign (``random_negative_prob``) and Cutout's place from
``np.random``. ``hparams`` (default ``dict(pad_val=128)``) fill the arguments a policy leaves
unset that its operation takes.
"""
import copy
import inspect
import random
from collections.abc import Sequence
from math import ceil
from numbers import Number

import numpy as np

from ...errors import ArgumentError, ArgumentTypeError
from ...registry import PIPELINES
from . import _image
from .compose import Compose

_HPARAMS_DEFAULT = dict(pad_val=128)


def random_negative(value, random_negative_prob):
    """``-value`` with probability ``random_negative_prob`` (``np.random.rand()``)."""
    return -value if np.random.rand() < random_negative_prob else value


def merge_hparams(policy, hparams):
    """``policy`` with each of ``hparams`` its operation takes and it leaves unset (or None)."""
    op = PIPELINES.get(policy['type'])
    if op is None:
        raise KeyError(f'{policy["type"]!r} is not in the pipeline registry')
    args = inspect.signature(op.__init__).parameters
    for key, value in hparams.items():
        if policy.get(key) is None and key in args:
            policy[key] = value
    return policy


def _policy_dict(policy, where):
    if not isinstance(policy, dict) or 'type' not in policy:
        raise ArgumentError(f'{where} must be a dict with a "type", got {policy!r}')


@PIPELINES.register_module()
class AutoAugment:
    """One of ``policies`` (lists of operation dicts) picked with ``random.choice`` per sample
    and applied."""

    def __init__(self, policies, hparams=_HPARAMS_DEFAULT):
        if not isinstance(policies, list) or not policies:
            raise ArgumentError('policies must be a non-empty list of lists of dicts')
        for policy in policies:
            if not isinstance(policy, list) or not policy:
                raise ArgumentError(f'each policy must be a non-empty list, got {policy!r}')
            for augment in policy:
                _policy_dict(augment, 'each operation of a policy')
        self.hparams = hparams
        self.policies = [[merge_hparams(op, hparams) for op in sub]
                         for sub in copy.deepcopy(policies)]
        self.sub_policy = [Compose(sub) for sub in self.policies]

    def __call__(self, results):
        return random.choice(self.sub_policy)(results)

    def __repr__(self):
        return f'{type(self).__name__}(policies={self.policies})'


@PIPELINES.register_module()
class RandAugment:
    """``num_policies`` operations drawn with ``random.choices`` from ``policies`` per sample.

    An operation with ``magnitude_key`` and ``magnitude_range`` = (val1, val2) gets
    ``magnitude_level / total_level * (val2 - val1) + val1``; with ``magnitude_std`` > 0 the
    level is first drawn ``random.gauss(magnitude_level, magnitude_std)`` clipped to
    [0, total_level], with ``'inf'`` ``random.uniform(0, magnitude_level)``.
    """

    def __init__(self, policies, num_policies, magnitude_level, magnitude_std=0.,
                 total_level=30, hparams=_HPARAMS_DEFAULT):
        if not isinstance(num_policies, int):
            raise ArgumentTypeError(f'num_policies must be an int, got {num_policies!r}')
        if not isinstance(magnitude_level, (int, float)):
            raise ArgumentTypeError(f'magnitude_level must be a number, got {magnitude_level!r}')
        if not isinstance(total_level, (int, float)):
            raise ArgumentTypeError(f'total_level must be a number, got {total_level!r}')
        if not isinstance(policies, list) or not policies:
            raise ArgumentError('policies must be a non-empty list of dicts')
        if isinstance(magnitude_std, str):
            if magnitude_std != 'inf':
                raise ArgumentError(f"magnitude_std must be a number or 'inf', "
                                    f'got {magnitude_std!r}')
        elif not isinstance(magnitude_std, Number):
            raise ArgumentTypeError(f"magnitude_std must be a number or 'inf', "
                                    f'got {magnitude_std!r}')
        if num_policies <= 0:
            raise ArgumentError(f'num_policies must be > 0, got {num_policies}')
        if magnitude_level < 0:
            raise ArgumentError(f'magnitude_level must be >= 0, got {magnitude_level}')
        if total_level <= 0:
            raise ArgumentError(f'total_level must be > 0, got {total_level}')
        self.num_policies = num_policies
        self.magnitude_level = magnitude_level
        self.magnitude_std = magnitude_std
        self.total_level = total_level
        self.hparams = hparams
        policies = copy.deepcopy(policies)
        for policy in policies:
            _policy_dict(policy, 'each policy')
            if policy.get('magnitude_key') is not None:
                rng = policy.get('magnitude_range')
                if rng is None:
                    raise ArgumentError(f'RandAugment policy {policy["type"]} has a '
                                        'magnitude_key and needs a magnitude_range')
                if not (isinstance(rng, Sequence) and len(rng) == 2):
                    raise ArgumentError(f'magnitude_range of RandAugment policy {policy["type"]} '
                                        f'must be two numbers, got {rng!r}')
        self.policies = [merge_hparams(policy, hparams) for policy in policies]

    def _level(self):
        level = self.magnitude_level
        if self.magnitude_std == 'inf':
            return random.uniform(0, level)
        if self.magnitude_std > 0:
            return min(self.total_level, max(0, random.gauss(level, self.magnitude_std)))
        return level

    def _process(self, policies):
        out = []
        for policy in policies:
            policy = copy.deepcopy(policy)
            key = policy.pop('magnitude_key', None)
            if key is not None:
                level = self._level()
                val1, val2 = policy.pop('magnitude_range')
                policy[key] = (level / self.total_level) * (val2 - val1) + val1
            out.append(policy)
        return out

    def __call__(self, results):
        chosen = random.choices(self.policies, k=self.num_policies)
        return Compose(self._process(chosen))(results)

    def __repr__(self):
        return (f'{type(self).__name__}(policies={self.policies}, '
                f'num_policies={self.num_policies}, magnitude_level={self.magnitude_level}, '
                f'total_level={self.total_level})')


# --- the operations ------------------------------------------------------------------------

def _check_prob(name, value):
    if not 0 <= value <= 1.0:
        raise ArgumentError(f'{name} must be in [0, 1], got {value}')


def _check_magnitude(value, name='magnitude'):
    if not isinstance(value, (int, float)):
        raise ArgumentTypeError(f'{name} must be an int or a float, got {value!r}')


def _pad_val3(pad_val, ints=True):
    if isinstance(pad_val, int):
        return (pad_val,) * 3
    if isinstance(pad_val, Sequence):
        if len(pad_val) != 3:
            raise ArgumentError(f'pad_val must be an int or 3 values, got {pad_val!r}')
        if ints and not all(isinstance(i, int) for i in pad_val):
            raise ArgumentError(f'pad_val must hold ints, got {pad_val!r}')
        return tuple(pad_val)
    raise ArgumentTypeError(f'pad_val must be an int or 3 values, got {pad_val!r}')


class _Op:
    """An operation applied with probability ``prob`` (``np.random.rand() > prob`` skips it)."""

    def apply(self, img):
        raise NotImplementedError

    def __call__(self, results):
        if np.random.rand() > self.prob:
            return results
        self._prepare()
        for key in results.get('img_fields', ['img']):
            img = results[key]
            results[key] = self.apply(img).astype(img.dtype)
        return results

    def _prepare(self):
        """Draws made once per call, before the images (the magnitude's sign)."""

    def __repr__(self):
        args = ', '.join(f'{k}={getattr(self, k)}' for k in self._repr_keys)
        return f'{type(self).__name__}({args})'


class _SignedOp(_Op):
    _value = 'magnitude'

    def _prepare(self):
        self._signed = random_negative(getattr(self, self._value), self.random_negative_prob)


def _check_signed(op, prob, random_negative_prob):
    _check_prob('prob', prob)
    _check_prob('random_negative_prob', random_negative_prob)
    op.prob = prob
    op.random_negative_prob = random_negative_prob


class _Geometric(_SignedOp):
    _repr_keys = ('magnitude', 'pad_val', 'prob', 'direction', 'random_negative_prob',
                  'interpolation')

    def __init__(self, magnitude, pad_val=128, prob=0.5, direction='horizontal',
                 random_negative_prob=0.5, interpolation='bicubic'):
        _check_magnitude(magnitude)
        self.pad_val = _pad_val3(pad_val)
        if direction not in ('horizontal', 'vertical'):
            raise ArgumentError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
        _check_signed(self, prob, random_negative_prob)
        self.magnitude = magnitude
        self.direction = direction
        self.interpolation = interpolation


@PIPELINES.register_module()
class Shear(_Geometric):
    """A shear by ``magnitude`` (the sign random), the border filled with ``pad_val``."""

    def apply(self, img):
        return _image.shear(img, self._signed, self.direction, self.pad_val, self.interpolation)


@PIPELINES.register_module()
class Translate(_Geometric):
    """A shift by ``magnitude`` times the image's width (or height), the sign random."""

    def __init__(self, magnitude, pad_val=128, prob=0.5, direction='horizontal',
                 random_negative_prob=0.5, interpolation='nearest'):
        super().__init__(magnitude, pad_val, prob, direction, random_negative_prob, interpolation)

    def apply(self, img):
        h, w = img.shape[:2]
        offset = self._signed * (w if self.direction == 'horizontal' else h)
        return _image.translate(img, offset, self.direction, self.pad_val, self.interpolation)


@PIPELINES.register_module()
class Rotate(_SignedOp):
    """A rotation by ``angle`` degrees clockwise (the sign random) about ``center``."""

    _value = 'angle'
    _repr_keys = ('angle', 'center', 'scale', 'pad_val', 'prob', 'random_negative_prob',
                  'interpolation')

    def __init__(self, angle, center=None, scale=1.0, pad_val=128, prob=0.5,
                 random_negative_prob=0.5, interpolation='nearest'):
        if not isinstance(angle, float):
            raise ArgumentTypeError(f'angle must be a float, got {angle!r}')
        if isinstance(center, tuple):
            if len(center) != 2:
                raise ArgumentError(f'center must be (x, y), got {center!r}')
        elif center is not None:
            raise ArgumentTypeError(f'center must be a tuple or None, got {center!r}')
        if not isinstance(scale, float):
            raise ArgumentTypeError(f'scale must be a float, got {scale!r}')
        self.pad_val = _pad_val3(pad_val)
        _check_signed(self, prob, random_negative_prob)
        self.angle = angle
        self.center = center
        self.scale = scale
        self.interpolation = interpolation

    def apply(self, img):
        return _image.rotate(img, self._signed, self.center, self.scale, self.pad_val,
                             self.interpolation)


class _Plain(_Op):
    _repr_keys = ('prob',)

    def __init__(self, prob=0.5):
        _check_prob('prob', prob)
        self.prob = prob


@PIPELINES.register_module()
class AutoContrast(_Plain):
    """Each channel stretched to the full [0, 255] range."""

    def apply(self, img):
        return _image.auto_contrast(img)


@PIPELINES.register_module()
class Invert(_Plain):
    """255 - pixel."""

    def apply(self, img):
        return _image.invert(img)


@PIPELINES.register_module()
class Equalize(_Plain):
    """Histogram equalisation per channel."""

    def apply(self, img):
        return _image.equalize(img)


@PIPELINES.register_module()
class Solarize(_Op):
    """Pixels at or above ``thr`` inverted."""

    _repr_keys = ('thr', 'prob')

    def __init__(self, thr, prob=0.5):
        _check_magnitude(thr, 'thr')
        _check_prob('prob', prob)
        self.thr = thr
        self.prob = prob

    def apply(self, img):
        return _image.solarize(img, self.thr)


@PIPELINES.register_module()
class SolarizeAdd(_Op):
    """``magnitude`` added (up to 255) to pixels below ``thr``."""

    _repr_keys = ('magnitude', 'thr', 'prob')

    def __init__(self, magnitude, thr=128, prob=0.5):
        _check_magnitude(magnitude)
        _check_magnitude(thr, 'thr')
        _check_prob('prob', prob)
        self.magnitude = magnitude
        self.thr = thr
        self.prob = prob

    def apply(self, img):
        return np.where(img < self.thr, np.minimum(img + self.magnitude, 255), img)


@PIPELINES.register_module()
class Posterize(_Op):
    """Each channel kept to its ``bits`` high bits (``bits`` rounded up, as timm's)."""

    _repr_keys = ('bits', 'prob')

    def __init__(self, bits, prob=0.5):
        if bits > 8:
            raise ArgumentError(f'bits must be <= 8, got {bits}')
        _check_prob('prob', prob)
        self.bits = ceil(bits)
        self.prob = prob

    def apply(self, img):
        return _image.posterize(img, self.bits)


class _Enhance(_SignedOp):
    _repr_keys = ('magnitude', 'prob', 'random_negative_prob')

    def __init__(self, magnitude, prob=0.5, random_negative_prob=0.5):
        _check_magnitude(magnitude)
        _check_signed(self, prob, random_negative_prob)
        self.magnitude = magnitude


@PIPELINES.register_module()
class Contrast(_Enhance):
    """Contrast scaled by ``1 + magnitude`` (the sign random) about the mean gray."""

    def apply(self, img):
        return _image.adjust_contrast(img, 1 + self._signed)


@PIPELINES.register_module()
class ColorTransform(_Enhance):
    """Saturation scaled by ``1 + magnitude`` (the sign random)."""

    def apply(self, img):
        return _image.adjust_color(img, 1 + self._signed)


@PIPELINES.register_module()
class Brightness(_Enhance):
    """Brightness scaled by ``1 + magnitude`` (the sign random)."""

    def apply(self, img):
        return _image.adjust_brightness(img, 1 + self._signed)


@PIPELINES.register_module()
class Sharpness(_Enhance):
    """Sharpness scaled by ``1 + magnitude`` (the sign random) against PIL's SMOOTH blur."""

    def apply(self, img):
        return _image.adjust_sharpness(img, 1 + self._signed)


@PIPELINES.register_module()
class Cutout(_Op):
    """A ``shape`` = (h, w) (or square) box around a random point filled with ``pad_val``."""

    _repr_keys = ('shape', 'pad_val', 'prob')

    def __init__(self, shape, pad_val=128, prob=0.5):
        if isinstance(shape, float):
            shape = int(shape)
        elif isinstance(shape, tuple):
            shape = tuple(int(i) for i in shape)
        elif not isinstance(shape, int):
            raise ArgumentTypeError(f'shape must be an int, a float or a tuple, got {shape!r}')
        self.shape = shape
        self.pad_val = _pad_val3(pad_val, ints=False)
        _check_prob('prob', prob)
        self.prob = prob

    def apply(self, img):
        return _image.cutout(img, self.shape, self.pad_val)
