"""Geometric and colour transforms, under mmcls 0.25's names, arguments and defaults.

The random ones draw from the same generators as mmcls's: Python's ``random`` for the crop
boxes (``RandomCrop``, ``RandomResizedCrop``), ``ColorJitter``'s factors and order and
``RandomGrayscale``; ``np.random`` for ``RandomFlip``, ``RandomErasing`` and ``Lighting``. With
both seeded alike, a pipeline gives the same images as mmcls's.
"""
import math
import random
from collections.abc import Sequence
from numbers import Number

import numpy as np

from ...errors import ArgumentError, ArgumentTypeError
from ...registry import PIPELINES
from . import _image
from .compose import Compose


def _img_keys(results):
    return results.get('img_fields', ['img'])


@PIPELINES.register_module()
class RandomCrop:
    """A ``size`` = (h, w) crop at a random place (``random.randint``), after an optional
    ``padding`` (left/right/top/bottom as mmcv's ``impad``) and, with ``pad_if_needed``, padding
    of a side shorter than the crop on both ends with ``pad_val`` / ``padding_mode``."""

    def __init__(self, size, padding=None, pad_if_needed=False, pad_val=0, padding_mode='constant'):
        self.size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        if padding_mode not in _image.PADDING_MODES:
            raise ArgumentError(f'padding_mode must be one of {", ".join(_image.PADDING_MODES)}, '
                                f'got {padding_mode!r}')
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.pad_val = pad_val
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img, output_size):
        """(ymin, xmin, height, width) of a random crop of ``output_size`` in ``img``."""
        height, width = img.shape[:2]
        target_height, target_width = output_size
        if width == target_width and height == target_height:
            return 0, 0, height, width
        ymin = random.randint(0, height - target_height)
        xmin = random.randint(0, width - target_width)
        return ymin, xmin, target_height, target_width

    def __call__(self, results):
        for key in _img_keys(results):
            img = results[key]
            if self.padding is not None:
                # mmcls pads with pad_val and the default (constant) mode here.
                img = _image.pad(img, padding=self.padding, pad_val=self.pad_val)
            if self.pad_if_needed and img.shape[0] < self.size[0]:
                d = self.size[0] - img.shape[0]
                img = _image.pad(img, padding=(0, d, 0, d), pad_val=self.pad_val,
                                 padding_mode=self.padding_mode)
            if self.pad_if_needed and img.shape[1] < self.size[1]:
                d = self.size[1] - img.shape[1]
                img = _image.pad(img, padding=(d, 0, d, 0), pad_val=self.pad_val,
                                 padding_mode=self.padding_mode)
            ymin, xmin, height, width = self.get_params(img, self.size)
            results[key] = _image.crop(img, xmin, ymin, xmin + width - 1, ymin + height - 1)
        return results

    def __repr__(self):
        return f'{type(self).__name__}(size={self.size}, padding={self.padding})'


@PIPELINES.register_module()
class RandomResizedCrop:
    """A crop of random area (``scale`` of the image's) and aspect ratio (``ratio``, drawn
    log-uniform), resized to ``size`` = (h, w); after ``max_attempts`` draws that do not fit,
    a central crop. ``efficientnet_style`` draws as TF's EfficientNet (``min_covered``, and a
    ``crop_padding`` central crop as fallback). Draws use Python's ``random``, as mmcls's."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3. / 4., 4. / 3.), max_attempts=10,
                 efficientnet_style=False, min_covered=0.1, crop_padding=32,
                 interpolation='bilinear', backend='cv2'):
        if efficientnet_style:
            if not isinstance(size, int):
                raise ArgumentError(f'size must be an int with efficientnet_style, got {size!r}')
            if crop_padding < 0:
                raise ArgumentError(f'crop_padding must be >= 0, got {crop_padding}')
            self.size = (size, size)
        else:
            self.size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ArgumentError(f'scale and ratio must be (min, max) ranges, got scale {scale} '
                                f'and ratio {ratio}')
        if min_covered < 0:
            raise ArgumentError(f'min_covered must be >= 0, got {min_covered}')
        if not isinstance(max_attempts, int) or max_attempts < 0:
            raise ArgumentError(f'max_attempts must be an int >= 0, got {max_attempts!r}')
        if interpolation not in _image.CV2_INTERPOLATIONS:
            raise ArgumentError(f'interpolation must be one of '
                                f'{", ".join(_image.CV2_INTERPOLATIONS)}, got {interpolation!r}')
        _image.check_backend(backend, interpolation)
        self.scale = scale
        self.ratio = ratio
        self.max_attempts = max_attempts
        self.efficientnet_style = efficientnet_style
        self.min_covered = min_covered
        self.crop_padding = crop_padding
        self.interpolation = interpolation
        self.backend = backend

    @staticmethod
    def get_params(img, scale, ratio, max_attempts=10):
        """(ymin, xmin, ymax, xmax), inclusive, of a random crop of ``img`` (its shape only)."""
        height, width = img.shape[:2]
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(max_attempts):
            target_area = random.uniform(*scale) * area
            aspect_ratio = math.exp(random.uniform(*log_ratio))
            target_width = int(round(math.sqrt(target_area * aspect_ratio)))
            target_height = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < target_width <= width and 0 < target_height <= height:
                ymin = random.randint(0, height - target_height)
                xmin = random.randint(0, width - target_width)
                return ymin, xmin, ymin + target_height - 1, xmin + target_width - 1
        # Central crop, of the ratio range's nearest end when the image is outside it.
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            target_width, target_height = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            target_width, target_height = int(round(height * max(ratio))), height
        else:
            target_width, target_height = width, height
        ymin = (height - target_height) // 2
        xmin = (width - target_width) // 2
        return ymin, xmin, ymin + target_height - 1, xmin + target_width - 1

    @staticmethod
    def get_params_efficientnet_style(img, size, scale, ratio, max_attempts=10, min_covered=0.1,
                                      crop_padding=32):
        """(ymin, xmin, ymax, xmax) of a random crop drawn as TF's EfficientNet does."""
        height, width = img.shape[:2]
        area = height * width
        min_area, max_area = scale[0] * area, scale[1] * area
        for _ in range(max_attempts):
            aspect_ratio = random.uniform(*ratio)
            min_h = int(round(math.sqrt(min_area / aspect_ratio)))
            max_h = int(round(math.sqrt(max_area / aspect_ratio)))
            if max_h * aspect_ratio > width:
                max_h = int((width + 0.5 - 1e-7) / aspect_ratio)
                if max_h * aspect_ratio > width:
                    max_h -= 1
            max_h = min(max_h, height)
            min_h = min(max_h, min_h)
            target_height = int(round(random.uniform(min_h, max_h)))
            target_width = int(round(target_height * aspect_ratio))
            target_area = target_height * target_width
            if (target_area < min_area or target_area > max_area or target_width > width
                    or target_height > height or target_area < min_covered * area):
                continue
            ymin = random.randint(0, height - target_height)
            xmin = random.randint(0, width - target_width)
            return ymin, xmin, ymin + target_height - 1, xmin + target_width - 1
        crop_size = size[0] / (size[0] + crop_padding) * min(height, width)
        ymin = max(0, int(round((height - crop_size) / 2.)))
        xmin = max(0, int(round((width - crop_size) / 2.)))
        return ymin, xmin, min(height, ymin + crop_size) - 1, min(width, xmin + crop_size) - 1

    def params(self, img):
        if self.efficientnet_style:
            return self.get_params_efficientnet_style(
                img, self.size, self.scale, self.ratio, self.max_attempts, self.min_covered,
                self.crop_padding)
        return self.get_params(img, self.scale, self.ratio, self.max_attempts)

    def __call__(self, results):
        for key in _img_keys(results):
            img = results[key]
            ymin, xmin, ymax, xmax = self.params(img)
            img = _image.crop(img, xmin, ymin, xmax, ymax)
            results[key] = _image.resize(img, self.size[::-1], self.interpolation, self.backend)
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(size={self.size}, '
                f'scale={tuple(round(s, 4) for s in self.scale)}, '
                f'ratio={tuple(round(r, 4) for r in self.ratio)}, '
                f'max_attempts={self.max_attempts}, efficientnet_style={self.efficientnet_style}, '
                f'min_covered={self.min_covered}, crop_padding={self.crop_padding}, '
                f'interpolation={self.interpolation}, backend={self.backend})')


@PIPELINES.register_module()
class RandomGrayscale:
    """With probability ``gray_prob`` (Python's ``random``), the image made gray in every one
    of its channels (its channels read as RGB, as mmcls's)."""

    def __init__(self, gray_prob=0.1):
        self.gray_prob = gray_prob

    def __call__(self, results):
        for key in _img_keys(results):
            img = results[key]
            channels = img.shape[2]
            if random.random() < self.gray_prob and channels > 1:
                gray = _image.rgb2gray(img)[:, :, None]
                results[key] = np.dstack([gray] * channels)
                return results  # mmcls's: the first image made gray ends the loop
        return results

    def __repr__(self):
        return f'{type(self).__name__}(gray_prob={self.gray_prob})'


@PIPELINES.register_module()
class RandomFlip:
    """With probability ``flip_prob`` (``np.random.rand()``), the image flipped
    ``'horizontal'`` or ``'vertical'``; sets ``flip`` and ``flip_direction``. The flipped image
    is a new contiguous array (mmcv's ``imflip`` gives a view with negative strides, which the
    next transform copies anyway)."""

    def __init__(self, flip_prob=0.5, direction='horizontal'):
        if not 0 <= flip_prob <= 1:
            raise ArgumentError(f'flip_prob must be in [0, 1], got {flip_prob}')
        if direction not in ('horizontal', 'vertical'):
            raise ArgumentError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
        self.flip_prob = flip_prob
        self.direction = direction

    def __call__(self, results):
        flip = bool(np.random.rand() < self.flip_prob)
        results['flip'] = flip
        results['flip_direction'] = self.direction
        if flip:
            for key in _img_keys(results):
                results[key] = _image.flip(results[key], self.direction)
        return results

    def __repr__(self):
        return f'{type(self).__name__}(flip_prob={self.flip_prob})'


@PIPELINES.register_module()
class RandomErasing:
    """With probability ``erase_prob``, a box of random area (``min_area_ratio`` to
    ``max_area_ratio`` of the image) and log-uniform aspect (``aspect_range``) filled with
    ``fill_color`` (``mode='const'``) or random colours (``mode='rand'``: uniform, or normal
    around ``fill_color`` with ``fill_std``). Draws from ``np.random``, as mmcls's."""

    def __init__(self, erase_prob=0.5, min_area_ratio=0.02, max_area_ratio=0.4,
                 aspect_range=(3 / 10, 10 / 3), mode='const', fill_color=(128, 128, 128),
                 fill_std=None):
        for name, value in (('erase_prob', erase_prob), ('min_area_ratio', min_area_ratio),
                            ('max_area_ratio', max_area_ratio)):
            if not isinstance(value, float) or not 0. <= value <= 1.:
                raise ArgumentError(f'{name} must be a float in [0, 1], got {value!r}')
        if min_area_ratio > max_area_ratio:
            raise ArgumentError(f'min_area_ratio ({min_area_ratio}) must not be above '
                                f'max_area_ratio ({max_area_ratio})')
        if isinstance(aspect_range, float):
            aspect_range = min(aspect_range, 1 / aspect_range)
            aspect_range = (aspect_range, 1 / aspect_range)
        if not (isinstance(aspect_range, Sequence) and len(aspect_range) == 2
                and all(isinstance(x, float) for x in aspect_range)):
            raise ArgumentError(f'aspect_range must be a float or two floats, got {aspect_range!r}')
        if not all(x > 0 for x in aspect_range) or aspect_range[0] > aspect_range[1]:
            raise ArgumentError(f'aspect_range must be a positive (min, max), got {aspect_range!r}')
        if mode not in ('const', 'rand'):
            raise ArgumentError(f"mode must be 'const' or 'rand', got {mode!r}")
        if isinstance(fill_color, Number):
            fill_color = [fill_color] * 3
        if not (isinstance(fill_color, Sequence) and len(fill_color) == 3
                and all(isinstance(x, Number) for x in fill_color)):
            raise ArgumentError(f'fill_color must be a number or three numbers, got {fill_color!r}')
        if fill_std is not None:
            if isinstance(fill_std, Number):
                fill_std = [fill_std] * 3
            if not (isinstance(fill_std, Sequence) and len(fill_std) == 3
                    and all(isinstance(x, Number) for x in fill_std)):
                raise ArgumentError(f'fill_std must be a number or three numbers, got {fill_std!r}')
        self.erase_prob = erase_prob
        self.min_area_ratio = min_area_ratio
        self.max_area_ratio = max_area_ratio
        self.aspect_range = aspect_range
        self.mode = mode
        self.fill_color = fill_color
        self.fill_std = fill_std

    def _fill(self, img, top, left, h, w):
        if self.mode == 'const':
            patch = np.empty((h, w, 3), dtype=np.uint8)
            patch[:, :] = np.array(self.fill_color, dtype=np.uint8)
        elif self.fill_std is None:
            patch = np.random.uniform(0, 256, (h, w, 3)).astype(np.uint8)
        else:
            patch = np.random.normal(self.fill_color, self.fill_std, (h, w, 3))
            patch = np.clip(patch.astype(np.int32), 0, 255).astype(np.uint8)
        if not img.flags.writeable or img.base is not None:
            img = img.copy()  # never write into a view of an image someone else holds
        img[top:top + h, left:left + w] = patch
        return img

    def __call__(self, results):
        for key in _img_keys(results):
            if np.random.rand() > self.erase_prob:
                continue
            img = results[key]
            img_h, img_w = img.shape[:2]
            log_aspect = np.log(np.array(self.aspect_range, dtype=np.float32))
            aspect_ratio = np.exp(np.random.uniform(*log_aspect))
            area = img_h * img_w * np.random.uniform(self.min_area_ratio, self.max_area_ratio)
            h = min(int(round(np.sqrt(area * aspect_ratio))), img_h)
            w = min(int(round(np.sqrt(area / aspect_ratio))), img_w)
            top = np.random.randint(0, img_h - h) if img_h > h else 0
            left = np.random.randint(0, img_w - w) if img_w > w else 0
            results[key] = self._fill(img, top, left, h, w)
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(erase_prob={self.erase_prob}, '
                f'min_area_ratio={self.min_area_ratio}, max_area_ratio={self.max_area_ratio}, '
                f'aspect_range={self.aspect_range}, mode={self.mode}, '
                f'fill_color={self.fill_color}, fill_std={self.fill_std})')


@PIPELINES.register_module()
class Pad:
    """The image padded (bottom and right) to ``size`` = (h, w), or to a square of its longer
    side with ``pad_to_square``; sets ``img_shape``."""

    def __init__(self, size=None, pad_to_square=False, pad_val=0, padding_mode='constant'):
        if (size is None) == (pad_to_square is False):
            raise ArgumentError('give exactly one of size and pad_to_square')
        if padding_mode not in _image.PADDING_MODES:
            raise ArgumentError(f'padding_mode must be one of {", ".join(_image.PADDING_MODES)}, '
                                f'got {padding_mode!r}')
        self.size = size
        self.pad_to_square = pad_to_square
        self.pad_val = pad_val
        self.padding_mode = padding_mode

    def __call__(self, results):
        for key in _img_keys(results):
            img = results[key]
            shape = (max(img.shape[:2]),) * 2 if self.pad_to_square else self.size
            img = _image.pad(img, shape=shape, pad_val=self.pad_val, padding_mode=self.padding_mode)
            results[key] = img
            results['img_shape'] = img.shape
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(size={self.size}, (pad_val={self.pad_val}, '
                f'padding_mode={self.padding_mode})')


@PIPELINES.register_module()
class Resize:
    """The image resized to ``size`` = (h, w); ``size=(s, -1)`` resizes the ``adaptive_side``
    (``'short'``, ``'long'``, ``'height'``, ``'width'``) to ``s`` keeping the aspect ratio (the
    other side truncated, as mmcls's), and leaves an image whose side is already ``s`` as it is.
    Sets ``img_shape``."""

    def __init__(self, size, interpolation='bilinear', adaptive_side='short', backend='cv2'):
        if not (isinstance(size, int) or (isinstance(size, tuple) and len(size) == 2)):
            raise ArgumentError(f'size must be an int or a (h, w) tuple, got {size!r}')
        if adaptive_side not in ('short', 'long', 'height', 'width'):
            raise ArgumentError(f"adaptive_side must be 'short', 'long', 'height' or 'width', "
                                f'got {adaptive_side!r}')
        self.adaptive_side = adaptive_side
        self.adaptive_resize = False
        if isinstance(size, int):
            if size <= 0:
                raise ArgumentError(f'size must be positive, got {size}')
            size = (size, size)
        else:
            if not (size[0] > 0 and (size[1] > 0 or size[1] == -1)):
                raise ArgumentError(f'size must be positive (or (s, -1)), got {size!r}')
            self.adaptive_resize = size[1] == -1
        _image.check_backend(backend, interpolation)
        self.size = size
        self.interpolation = interpolation
        self.backend = backend

    def target(self, h, w):
        """(height, width) to resize an ``h`` x ``w`` image to, None to leave it."""
        if not self.adaptive_resize:
            return self.size
        s = self.size[0]
        side = self.adaptive_side
        if {'short': min(h, w), 'long': max(h, w), 'height': h, 'width': w}[side] == s:
            return None
        if (side == 'short' and w < h) or (side == 'long' and w > h) or side == 'width':
            return int(s * h / w), s
        return s, int(s * w / h)

    def __call__(self, results):
        for key in _img_keys(results):
            img = results[key]
            target = self.target(*img.shape[:2])
            if target is not None:
                img = _image.resize(img, (target[1], target[0]), self.interpolation, self.backend)
                results[key] = img
                results['img_shape'] = img.shape
        return results

    def __repr__(self):
        return f'{type(self).__name__}(size={self.size}, interpolation={self.interpolation})'


@PIPELINES.register_module()
class CenterCrop:
    """The central ``crop_size`` = (h, w) of the image (all of a side shorter than the crop).
    ``efficientnet_style``: the central ``crop_size / (crop_size + crop_padding)`` of the short
    side, resized to ``crop_size``. Sets ``img_shape``."""

    def __init__(self, crop_size, efficientnet_style=False, crop_padding=32,
                 interpolation='bilinear', backend='cv2'):
        if efficientnet_style:
            if not isinstance(crop_size, int):
                raise ArgumentError(f'crop_size must be an int with efficientnet_style, '
                                    f'got {crop_size!r}')
            if crop_padding < 0:
                raise ArgumentError(f'crop_padding must be >= 0, got {crop_padding}')
            if interpolation not in _image.CV2_INTERPOLATIONS:
                raise ArgumentError(f'interpolation must be one of '
                                    f'{", ".join(_image.CV2_INTERPOLATIONS)}, '
                                    f'got {interpolation!r}')
            _image.check_backend(backend, interpolation)
        elif not (isinstance(crop_size, int)
                  or (isinstance(crop_size, tuple) and len(crop_size) == 2)):
            raise ArgumentError(f'crop_size must be an int or a (h, w) tuple, got {crop_size!r}')
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        if not (crop_size[0] > 0 and crop_size[1] > 0):
            raise ArgumentError(f'crop_size must be positive, got {crop_size!r}')
        self.crop_size = crop_size
        self.efficientnet_style = efficientnet_style
        self.crop_padding = crop_padding
        self.interpolation = interpolation
        self.backend = backend

    def __call__(self, results):
        img_shape = None
        for key in _img_keys(results):
            img = results[key]
            crop_h, crop_w = self.crop_size
            img_h, img_w = img.shape[:2]
            if self.efficientnet_style:
                short = min(img_h, img_w)
                crop_h = crop_h / (crop_h + self.crop_padding) * short
                crop_w = crop_w / (crop_w + self.crop_padding) * short
            y1 = max(0, int(round((img_h - crop_h) / 2.)))
            x1 = max(0, int(round((img_w - crop_w) / 2.)))
            y2 = min(img_h, y1 + crop_h) - 1
            x2 = min(img_w, x1 + crop_w) - 1
            img = _image.crop(img, x1, y1, x2, y2)
            if self.efficientnet_style:
                img = _image.resize(img, self.crop_size[::-1], self.interpolation, self.backend)
            img_shape = img.shape
            results[key] = img
        results['img_shape'] = img_shape
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'efficientnet_style={self.efficientnet_style}, '
                f'crop_padding={self.crop_padding}, interpolation={self.interpolation}, '
                f'backend={self.backend})')


@PIPELINES.register_module()
class Normalize:
    """float32 ``(img - mean) / std`` per channel, BGR -> RGB first with ``to_rgb``; sets
    ``img_norm_cfg``. The values are mmcv's ``imnormalize``'s, bit for bit."""

    def __init__(self, mean, std, to_rgb=True):
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        self.to_rgb = to_rgb
        # cv2's float32 arithmetic: (x - float32(mean)) * float32(1 / float64(std)).
        self._mean32 = self.mean.astype(np.float32)
        self._stdinv32 = (1 / self.std.astype(np.float64)).astype(np.float32)
        self._lut = None

    def lut(self):
        """The (1, 256, 3) float32 table of each uint8 value's normalized value per output
        channel (RGB order with ``to_rgb``): what cv2's float32 arithmetic gives for it."""
        if self._lut is None:
            v = np.arange(256, dtype=np.float32)[:, None]
            lut = (v - self._mean32[None, :]) * self._stdinv32[None, :]
            self._lut = np.ascontiguousarray(lut).reshape(1, 256, 3)
        return self._lut

    def _apply(self, img):
        if (img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == self.mean.size == 3
                and min(img.strides) > 0):
            # One table look-up pass over the uint8 pixels gives the same float32 numbers as
            # cv2's subtraction and product on a float copy (three passes, and the copy); the
            # channels are swapped on the uint8 image, a quarter of the bytes of the float one.
            c = _image.cv2()
            if self.to_rgb:
                img = c.cvtColor(img, c.COLOR_BGR2RGB)
            return c.LUT(img, self.lut())
        return _image.normalize(img, self.mean, self.std, self.to_rgb)

    def __call__(self, results):
        for key in _img_keys(results):
            results[key] = self._apply(results[key])
        results['img_norm_cfg'] = dict(mean=self.mean, std=self.std, to_rgb=self.to_rgb)
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(mean={list(self.mean)}, std={list(self.std)}, '
                f'to_rgb={self.to_rgb})')


@PIPELINES.register_module()
class ColorJitter:
    """Brightness, contrast and saturation each changed by a random factor: magnitudes drawn
    ``random.uniform(0, x)``, each negated with probability 0.5, applied in a random order
    (``random.shuffle``), as mmcls's (through ``Brightness``, ``Contrast``, ``ColorTransform``)."""

    def __init__(self, brightness, contrast, saturation):
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation

    def __call__(self, results):
        steps = [dict(type='Brightness', magnitude=random.uniform(0, self.brightness)),
                 dict(type='Contrast', magnitude=random.uniform(0, self.contrast)),
                 dict(type='ColorTransform', magnitude=random.uniform(0, self.saturation))]
        for step in steps:
            step.update(prob=1., random_negative_prob=0.5)
        random.shuffle(steps)
        return Compose(steps)(results)

    def __repr__(self):
        return (f'{type(self).__name__}(brightness={self.brightness}, '
                f'contrast={self.contrast}, saturation={self.saturation})')


@PIPELINES.register_module()
class Lighting:
    """AlexNet's PCA lighting noise (``eigval``, ``eigvec`` lists, ``alphastd``); the result is
    float32 (RGB with ``to_rgb``)."""

    def __init__(self, eigval, eigvec, alphastd=0.1, to_rgb=True):
        if not isinstance(eigval, list):
            raise ArgumentTypeError(f'eigval must be a list, got {type(eigval).__name__}')
        if not isinstance(eigvec, list):
            raise ArgumentTypeError(f'eigvec must be a list, got {type(eigvec).__name__}')
        if not all(isinstance(v, list) and len(v) == len(eigvec[0]) for v in eigvec):
            raise ArgumentError('eigvec must be a list of lists of one length')
        self.eigval = np.array(eigval)
        self.eigvec = np.array(eigvec)
        if self.eigval.ndim != 1 or self.eigvec.shape != (3, self.eigval.shape[0]):
            raise ArgumentError(f'eigvec must be 3 x len(eigval), got {self.eigvec.shape}')
        if not isinstance(alphastd, float):
            raise ArgumentTypeError(f'alphastd must be a float, got {alphastd!r}')
        self.alphastd = alphastd
        self.to_rgb = to_rgb

    def __call__(self, results):
        for key in _img_keys(results):
            results[key] = _image.adjust_lighting(results[key], self.eigval, self.eigvec,
                                                  self.alphastd, self.to_rgb)
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(eigval={self.eigval.tolist()}, '
                f'eigvec={self.eigvec.tolist()}, alphastd={self.alphastd}, to_rgb={self.to_rgb})')
