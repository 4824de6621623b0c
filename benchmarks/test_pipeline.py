"""The ImageNet train pipeline on a few generated ~500x375 JPEGs, per image.

Group ``imagenet train pipeline``: fastrun's transforms, and mmcls 0.25's where it is
importable (the comparison in one run, with workers too, is ``benchmarks/pipeline_imagenet.py``).
"""
import importlib.util

import pytest

cv2 = pytest.importorskip('cv2')

from benchmarks.pipeline_imagenet import build, make_jpegs, samples  # noqa: E402

IMPLS = ['fastrun'] + (['mmcls'] if importlib.util.find_spec('mmcls') else [])


@pytest.fixture(scope='module')
def items(tmp_path_factory):
    folder = tmp_path_factory.mktemp('jpegs')
    return samples(str(folder), make_jpegs(str(folder), 8))


@pytest.mark.benchmark(group='imagenet train pipeline')
@pytest.mark.parametrize('impl', IMPLS)
def test_train_pipeline(benchmark, items, impl):
    pipeline = build(impl)

    def run():
        return [pipeline(dict(item, img_info=dict(item['img_info']))) for item in items]

    out = benchmark(run)
    assert out[0]['img'].shape == (3, 224, 224)
