"""Classification datasets with mmclassification 0.x semantics, and their metrics."""
from . import metrics, pipelines
from .base import ALLOWED_METRICS, BaseDataset
from .digits import Digits
from .image_folder import IMG_EXTENSIONS, ImageFolder
from .pipelines import Compose
from .synthetic import SyntheticClassification

__all__ = ['ALLOWED_METRICS', 'BaseDataset', 'Compose', 'Digits', 'IMG_EXTENSIONS', 'ImageFolder',
           'SyntheticClassification', 'metrics', 'pipelines']
