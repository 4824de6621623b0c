"""Compose: a config's ``pipeline=[...]`` applied in order; ``None`` drops the sample."""
import pytest

from fastrun.datasets import Compose
from fastrun.registry import PIPELINES


class _Add:
    def __init__(self, key='x', by=1):
        self.key, self.by = key, by

    def __call__(self, results):
        results[self.key] = results[self.key] * 10 + self.by
        return results


@pytest.fixture
def add_registered():
    PIPELINES.register_module('TestAdd', force=True, module=_Add)
    yield
    PIPELINES.module_dict.pop('TestAdd', None)


def test_transforms_run_in_config_order_and_none_drops_the_sample(add_registered):
    pipeline = Compose([dict(type='TestAdd', by=1), lambda r: None if r['x'] > 100 else r,
                        dict(type='TestAdd', by=2)])
    assert pipeline({'x': 0}) == {'x': 12}
    assert pipeline({'x': 10}) is None  # 101 is dropped before the last transform
    assert PIPELINES.get('Compose') is Compose
    assert 'TestAdd' in repr(pipeline) or '_Add' in repr(pipeline)


def test_a_transform_that_is_neither_a_dict_nor_callable_is_refused():
    with pytest.raises(TypeError, match='transform 0'):
        Compose([3])
    with pytest.raises(KeyError, match='NoSuchTransform'):
        Compose([dict(type='NoSuchTransform')])
