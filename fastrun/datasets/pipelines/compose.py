"""``Compose``: a data pipeline, the transforms of a config's ``pipeline=[...]`` in order."""
from collections.abc import Sequence

from ...registry import PIPELINES, build_from_cfg


@PIPELINES.register_module()
class Compose:
    """Apply ``transforms`` (dicts built from :data:`~fastrun.registry.PIPELINES`, or callables)
    one after the other to a results dict; a transform that returns ``None`` drops the sample,
    and the pipeline returns ``None`` at once, as mmcls's does."""

    def __init__(self, transforms):
        if not isinstance(transforms, Sequence) or isinstance(transforms, str):
            raise TypeError(f'transforms must be a sequence of dicts or callables, '
                            f'got {type(transforms).__name__}')
        self.transforms = []
        for i, transform in enumerate(transforms):
            if isinstance(transform, dict):
                transform = build_from_cfg(transform, PIPELINES)
            elif not callable(transform):
                raise TypeError(f'transform {i} must be a dict or a callable, '
                                f'got {type(transform).__name__}')
            self.transforms.append(transform)

    def __call__(self, data):
        for transform in self.transforms:
            data = transform(data)
            if data is None:
                return None
        return data

    def __repr__(self):
        inner = ''.join(f'\n    {t}' for t in self.transforms)
        return f'{type(self).__name__}({inner}\n)'
