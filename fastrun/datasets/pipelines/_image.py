"""Image operations on HWC numpy arrays (BGR, as the loaders give them), the ones the transforms use.

Each gives the same array as the mmcv 1.x function the mmcls transforms call (same library
calls in the same order where that is what fixes the values: cv2's fixed-point resize, its
float32 arithmetic), written here so that fastrun needs neither mmcv nor mmcls. opencv is
imported on first use, so that ``import fastrun.datasets`` works without it (``fastrun[image]``
installs it).
"""
import io
import numbers

import numpy as np

from ...errors import ArgumentError, ArgumentTypeError

_CV2 = None

CV2_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')
PILLOW_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'box', 'lanczos', 'hamming')
PADDING_MODES = ('constant', 'edge', 'reflect', 'symmetric')
COLOR_TYPES = ('color', 'grayscale', 'unchanged', 'color_ignore_orientation',
               'grayscale_ignore_orientation')


def cv2():
    """The ``cv2`` module; a missing opencv says which extra installs it."""
    global _CV2
    if _CV2 is None:
        try:
            import cv2 as module
        except ImportError as e:
            raise ImportError('the image transforms need opencv: pip install "fastrun[image]" '
                              '(or any opencv-python package)') from e
        _CV2 = module
    return _CV2


def cv2_interpolation(name):
    c = cv2()
    return {'nearest': c.INTER_NEAREST, 'bilinear': c.INTER_LINEAR, 'bicubic': c.INTER_CUBIC,
            'area': c.INTER_AREA, 'lanczos': c.INTER_LANCZOS4}[name]


def pillow_interpolation(name):
    from PIL import Image
    r = Image.Resampling
    return {'nearest': r.NEAREST, 'bilinear': r.BILINEAR, 'bicubic': r.BICUBIC, 'box': r.BOX,
            'lanczos': r.LANCZOS, 'hamming': r.HAMMING}[name]


def check_backend(backend, interpolation, what='resize'):
    """Refuse a backend or an interpolation the backend does not have (mmcls's lists)."""
    if backend not in ('cv2', 'pillow'):
        raise ArgumentError(f"backend must be 'cv2' or 'pillow' for {what}, got {backend!r}")
    names = CV2_INTERPOLATIONS if backend == 'cv2' else PILLOW_INTERPOLATIONS
    if interpolation not in names:
        raise ArgumentError(f'interpolation must be one of {", ".join(names)} with the '
                            f'{backend} backend, got {interpolation!r}')


# --- decoding -------------------------------------------------------------------------------

def _cv2_flag(color_type):
    c = cv2()
    return {'color': c.IMREAD_COLOR, 'grayscale': c.IMREAD_GRAYSCALE,
            'unchanged': c.IMREAD_UNCHANGED,
            'color_ignore_orientation': c.IMREAD_IGNORE_ORIENTATION | c.IMREAD_COLOR,
            'grayscale_ignore_orientation': c.IMREAD_IGNORE_ORIENTATION | c.IMREAD_GRAYSCALE
            }[color_type]


def decode(content, color_type='color', backend='cv2'):
    """An encoded image (bytes) as a BGR (or gray) uint8 array; None if it is not an image."""
    if backend == 'cv2':
        return cv2().imdecode(np.frombuffer(content, np.uint8), _cv2_flag(color_type))
    return _decode_pillow(content, color_type)


def _decode_pillow(content, color_type):
    from PIL import Image, ImageOps, UnidentifiedImageError
    try:
        with io.BytesIO(content) as buffer:
            img = Image.open(buffer)
            if color_type == 'unchanged':
                array = np.array(img)
                if array.ndim >= 3 and array.shape[2] >= 3:
                    array[:, :, :3] = array[:, :, (2, 1, 0)]  # RGB(A) -> BGR(A)
                return array
            if color_type in ('color', 'grayscale'):
                img = ImageOps.exif_transpose(img)
            if img.mode != 'RGB':
                if img.mode == 'LA':
                    # Gray with alpha: over the fixed background mmcv uses.
                    rgba = img.convert('RGBA')
                    img = Image.new('RGB', rgba.size, (124, 117, 104))
                    img.paste(rgba, mask=rgba.split()[3])
                else:
                    img = img.convert('RGB')
            if color_type.startswith('color'):
                return np.array(img)[:, :, ::-1]
            return np.array(img.convert('L'))
    except (UnidentifiedImageError, OSError, SyntaxError):
        return None


# --- geometry -------------------------------------------------------------------------------

def resize(img, size, interpolation='bilinear', backend='cv2'):
    """``img`` resized to ``size`` = (width, height)."""
    if backend == 'pillow':
        from PIL import Image
        if img.dtype != np.uint8:
            raise ArgumentTypeError(f'the pillow backend resizes uint8 images only, '
                                    f'got {img.dtype}')
        return np.array(Image.fromarray(img).resize(size, pillow_interpolation(interpolation)))
    return cv2().resize(img, size, interpolation=cv2_interpolation(interpolation))


def crop(img, x1, y1, x2, y2):
    """The view of ``img`` inside the inclusive box, the box first truncated to integers and
    clipped to the image (as mmcv's ``imcrop`` without padding)."""
    h, w = img.shape[:2]
    x1, y1, x2, y2 = (int(np.int32(v)) for v in (x1, y1, x2, y2))
    x1, x2 = min(max(x1, 0), w - 1), min(max(x2, 0), w - 1)
    y1, y2 = min(max(y1, 0), h - 1), min(max(y2, 0), h - 1)
    return img[y1:y2 + 1, x1:x2 + 1, ...]


def flip(img, direction='horizontal'):
    """``img`` flipped, contiguous (cv2's flip, one pass; numpy's view for what cv2 lacks)."""
    if img.ndim in (2, 3) and (img.ndim == 2 or img.shape[2] <= 4) and img.dtype in (
            np.uint8, np.float32, np.float64):
        out = cv2().flip(img, {'horizontal': 1, 'vertical': 0}.get(direction, -1))
        return out.reshape(img.shape)  # cv2 drops a last axis of 1
    if direction == 'horizontal':
        return img[:, ::-1, ...]
    if direction == 'vertical':
        return img[::-1, ...]
    return img[::-1, ::-1, ...]


def pad(img, shape=None, padding=None, pad_val=0, padding_mode='constant'):
    """``img`` padded to ``shape`` = (h, w) (bottom and right) or by ``padding`` (one number,
    (left/right, top/bottom) or (left, top, right, bottom))."""
    if (shape is None) == (padding is None):
        raise ArgumentError('give exactly one of shape and padding')
    if shape is not None:
        padding = (0, 0, max(shape[1] - img.shape[1], 0), max(shape[0] - img.shape[0], 0))
    if isinstance(pad_val, tuple):
        if len(pad_val) != img.shape[-1]:
            raise ArgumentError(f'pad_val {pad_val} must have one value per channel '
                                f'({img.shape[-1]})')
    elif not isinstance(pad_val, numbers.Number):
        raise ArgumentTypeError(f'pad_val must be a number or a tuple, got {type(pad_val).__name__}')
    if isinstance(padding, numbers.Number):
        padding = (padding,) * 4
    elif isinstance(padding, tuple) and len(padding) == 2:
        padding = padding * 2
    elif not (isinstance(padding, tuple) and len(padding) == 4):
        raise ArgumentError(f'padding must be a number or a tuple of 2 or 4, got {padding!r}')
    if padding_mode not in PADDING_MODES:
        raise ArgumentError(f'padding_mode must be one of {", ".join(PADDING_MODES)}, '
                            f'got {padding_mode!r}')
    c = cv2()
    border = {'constant': c.BORDER_CONSTANT, 'edge': c.BORDER_REPLICATE,
              'reflect': c.BORDER_REFLECT_101, 'symmetric': c.BORDER_REFLECT}[padding_mode]
    left, top, right, bottom = padding
    return c.copyMakeBorder(img, top, bottom, left, right, border, value=pad_val)


def _border(img, value):
    channels = 1 if img.ndim == 2 else img.shape[-1]
    if isinstance(value, int):
        value = (value,) * channels
    elif not isinstance(value, tuple) or len(value) != channels:
        raise ArgumentError(f'pad_val {value!r} must be an int or one value per channel '
                            f'({channels})')
    return value[:3]


def warp(img, matrix, border_value, interpolation):
    """``img`` under the 2x3 affine ``matrix``, same size, constant border."""
    h, w = img.shape[:2]
    return cv2().warpAffine(img, matrix, (w, h), flags=cv2_interpolation(interpolation),
                            borderValue=_border(img, border_value))


def shear(img, magnitude, direction, border_value, interpolation):
    m = [[1, magnitude, 0], [0, 1, 0]] if direction == 'horizontal' else [[1, 0, 0], [magnitude, 1, 0]]
    return warp(img, np.float32(m), border_value, interpolation)


def translate(img, offset, direction, border_value, interpolation):
    m = [[1, 0, offset], [0, 1, 0]] if direction == 'horizontal' else [[1, 0, 0], [0, 1, offset]]
    return warp(img, np.float32(m), border_value, interpolation)


def rotate(img, angle, center, scale, border_value, interpolation):
    """``img`` turned ``angle`` degrees clockwise about ``center`` (default: the middle)."""
    h, w = img.shape[:2]
    if center is None:
        center = ((w - 1) * 0.5, (h - 1) * 0.5)
    c = cv2()
    matrix = c.getRotationMatrix2D(center, -angle, scale)
    return c.warpAffine(img, matrix, (w, h), flags=cv2_interpolation(interpolation),
                        borderMode=c.BORDER_CONSTANT, borderValue=border_value)


def cutout(img, shape, pad_val):
    """A copy of ``img`` with a ``shape`` box around a uniform random point (np.random) filled."""
    channels = 1 if img.ndim == 2 else img.shape[2]
    cut_h, cut_w = (shape, shape) if isinstance(shape, int) else shape
    if isinstance(pad_val, (int, float)):
        pad_val = (pad_val,) * channels
    elif len(pad_val) != channels:
        raise ArgumentError(f'pad_val {pad_val!r} must have one value per channel ({channels})')
    img_h, img_w = img.shape[:2]
    y0 = np.random.uniform(img_h)
    x0 = np.random.uniform(img_w)
    y1 = int(max(0, y0 - cut_h / 2.))
    x1 = int(max(0, x0 - cut_w / 2.))
    y2, x2 = min(img_h, y1 + cut_h), min(img_w, x1 + cut_w)
    out = img.copy()
    out[y1:y2, x1:x2, ...] = np.array(pad_val[0] if img.ndim == 2 else pad_val, dtype=img.dtype)
    return out


# --- colour ---------------------------------------------------------------------------------

def bgr2gray(img):
    return cv2().cvtColor(img, cv2().COLOR_BGR2GRAY)


def rgb2gray(img):
    return cv2().cvtColor(img, cv2().COLOR_RGB2GRAY)


def gray2bgr(img):
    img = img[..., None] if img.ndim == 2 else img
    return cv2().cvtColor(img, cv2().COLOR_GRAY2BGR)


def normalize(img, mean, std, to_rgb):
    """float32 ``(img - mean) / std`` (BGR -> RGB first with ``to_rgb``), in cv2's float32
    arithmetic: the mean and 1/std rounded to float32, then one subtraction and one product."""
    img = np.array(img, dtype=np.float32)  # a copy, contiguous
    c = cv2()
    if to_rgb:
        c.cvtColor(img, c.COLOR_BGR2RGB, img)
    c.subtract(img, np.float64(mean.reshape(1, -1)), img)
    c.multiply(img, 1 / np.float64(std.reshape(1, -1)), img)
    return img


def blend(img, other, factor):
    """``img * factor + other * (1 - factor)`` in float32, clipped to [0, 255], in img's dtype."""
    out = cv2().addWeighted(img.astype(np.float32), factor, other.astype(np.float32),
                            1 - factor, 0)
    return np.clip(out, 0, 255).astype(img.dtype)


def adjust_brightness(img, factor):
    return blend(img, np.zeros_like(img), factor)


def adjust_contrast(img, factor):
    gray = bgr2gray(img)
    hist = np.histogram(gray, 256, (0, 255))[0]
    mean = round(np.sum(gray) / np.sum(hist))
    degenerate = gray2bgr((np.ones_like(img[..., 0]) * mean).astype(img.dtype))
    return blend(img, degenerate, factor)


def adjust_color(img, alpha):
    gray = np.tile(bgr2gray(img)[..., None], [1, 1, 3])
    out = cv2().addWeighted(img, alpha, gray, 1 - alpha, 0)
    if out.dtype != np.uint8:
        out = np.clip(out, 0, 255)
    return out.astype(img.dtype)


def adjust_sharpness(img, factor):
    kernel = np.array([[1., 1., 1.], [1., 5., 1.], [1., 1., 1.]]) / 13  # PIL's SMOOTH
    return blend(img, cv2().filter2D(img, -1, kernel), factor)


def adjust_lighting(img, eigval, eigvec, alphastd, to_rgb):
    """AlexNet's PCA lighting noise: float32 img plus ``eigvec @ (alpha * eigval)``, alpha drawn
    from N(0, alphastd) with np.random."""
    img = np.array(img, dtype=np.float32)
    if to_rgb:
        cv2().cvtColor(img, cv2().COLOR_BGR2RGB, img)
    n = eigval.shape[0]
    alpha = np.random.normal(0, alphastd, n)
    shift = (eigvec * alpha.reshape(1, n) * eigval.reshape(1, n)).sum(axis=1)
    return img + np.broadcast_to(shift.reshape(1, 1, 3), img.shape)


def invert(img):
    return np.full_like(img, 255) - img


def solarize(img, thr):
    return np.where(img < thr, img, 255 - img)


def posterize(img, bits):
    shift = 8 - bits
    return np.left_shift(np.right_shift(img, shift), shift)


def _per_channel(img, fn):
    return np.stack([fn(img[:, :, c]) for c in range(3)], axis=-1)


def equalize(img):
    """Histogram equalisation per channel (PIL's ImageOps.equalize rule)."""
    def channel(im):
        histo = np.histogram(im, 256, (0, 255))[0]
        nonzero = histo[histo > 0]
        step = (np.sum(nonzero) - nonzero[-1]) // 255
        if not step:
            return im
        lut = (np.cumsum(histo) + (step // 2)) // step
        lut = np.concatenate([[0], lut[:-1]], 0)
        lut[lut > 255] = 255
        return lut[im]
    return _per_channel(img, channel).astype(img.dtype)


def auto_contrast(img):
    """Each channel stretched to [0, 255] between its lowest and highest values."""
    def channel(im):
        histo = np.histogram(im, 256, (0, 255))[0]
        present = np.nonzero(histo)[0]
        low, high = present[0], present[-1]
        if low >= high:
            return im
        scale = 255.0 / (high - low)
        lut = np.clip(np.arange(256) * scale - low * scale, 0, 255)
        return lut[im]
    return _per_channel(img, channel).astype(img.dtype)
