"""The data pipeline: transforms registered in :data:`~fastrun.registry.PIPELINES` under
mmcls 0.x's names, and :class:`Compose`. The image transforms need opencv (``fastrun[image]``),
imported the first time one runs."""
from .auto_augment import (AutoAugment, AutoContrast, Brightness, ColorTransform, Contrast,
                           Cutout, Equalize, Invert, Posterize, RandAugment, Rotate, Sharpness,
                           Shear, Solarize, SolarizeAdd, Translate)
from .compose import Compose
from .formatting import (Collect, ImageToTensor, ToHalf, ToNumpy, ToPIL, ToTensor, Transpose,
                         WrapFieldsToLists, to_tensor)
from .loading import LoadImageFromFile
from .transforms import (CenterCrop, ColorJitter, Lighting, Normalize, Pad, RandomCrop,
                         RandomErasing, RandomFlip, RandomGrayscale, RandomResizedCrop, Resize)

__all__ = ['AutoAugment', 'AutoContrast', 'Brightness', 'CenterCrop', 'Collect', 'ColorJitter',
           'ColorTransform', 'Compose', 'Contrast', 'Cutout', 'Equalize', 'ImageToTensor',
           'Invert', 'Lighting', 'LoadImageFromFile', 'Normalize', 'Pad', 'Posterize',
           'RandAugment', 'RandomCrop', 'RandomErasing', 'RandomFlip', 'RandomGrayscale',
           'RandomResizedCrop', 'Resize', 'Rotate', 'Sharpness', 'Shear', 'Solarize',
           'SolarizeAdd', 'ToHalf', 'ToNumpy', 'ToPIL', 'ToTensor', 'Translate', 'Transpose',
           'WrapFieldsToLists', 'to_tensor']
