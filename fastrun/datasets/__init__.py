"""Classification datasets with mmclassification 0.x semantics, and their metrics."""
from . import metrics, pipelines
from .base import ALLOWED_METRICS, BaseDataset
from .builder import build_dataset
from .cifar import CIFAR10, CIFAR100
from .cub import CUB
from .custom import CustomDataset
from .digits import Digits
from .image_folder import IMG_EXTENSIONS, ImageFolder
from .imagenet import ImageNet, ImageNet21k
from .mnist import MNIST, FashionMNIST
from .multi_label import MULTI_LABEL_METRICS, MultiLabelDataset
from .pipelines import Compose
from .samplers import DistributedSampler, RepeatAugSampler
from .stanford_cars import StanfordCars
from .synthetic import SyntheticClassification
from .voc import VOC
from .wrappers import ClassBalancedDataset, ConcatDataset, KFoldDataset, RepeatDataset

__all__ = ['ALLOWED_METRICS', 'BaseDataset', 'CIFAR10', 'CIFAR100', 'CUB', 'ClassBalancedDataset',
           'Compose', 'ConcatDataset', 'CustomDataset', 'Digits', 'DistributedSampler',
           'FashionMNIST', 'IMG_EXTENSIONS', 'ImageFolder', 'ImageNet', 'ImageNet21k',
           'KFoldDataset', 'MNIST', 'MULTI_LABEL_METRICS', 'MultiLabelDataset',
           'RepeatAugSampler', 'RepeatDataset', 'StanfordCars', 'SyntheticClassification', 'VOC',
           'build_dataset', 'metrics', 'pipelines']
