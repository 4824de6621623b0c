"""Every config file of MMClassification 0.25 that mmcv's Config reads, fastrun's reads to the same dict.

The files are those the installed mmcls ships (its ``_base_`` files included), found when the
test runs. A file mmcv cannot read either (a few name bases that are not shipped) must fail
in fastrun too, never load to something else.
"""
import glob
import os.path as osp
import warnings

import pytest
from mmcv import Config as MmcvConfig

from fastrun import Config


def _config_files():
    import mmcls
    folder = osp.join(osp.dirname(mmcls.__file__), '.mim', 'configs')
    return folder, sorted(glob.glob(osp.join(folder, '**', '*.py'), recursive=True))


def _read(config_class, path):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)  # the renamed configs say so
        return config_class.fromfile(path)


def test_the_config_tree_is_there():
    folder, files = _config_files()
    assert len(files) > 400 and any('_base_' in f for f in files), folder
    # Among them, the base-variable references the parity below covers.
    assert any('{{_base_.' in open(f, encoding='utf-8').read().replace(' ', '') for f in files)


# One test over all files: reading the ~480 files is ~1 s for fastrun and ~10-20 s for mmcv, a
# parametrised test per file would add pytest's own overhead to that.
def test_every_mmcls_config_reads_to_mmcvs_dict():
    folder, files = _config_files()
    differing, mmcv_only, equal, both_fail = [], [], 0, 0
    for path in files:
        name = osp.relpath(path, folder)
        try:
            expected = _read(MmcvConfig, path)._cfg_dict.to_dict()
        except Exception:
            try:
                _read(Config, path)
            except Exception:
                both_fail += 1
                continue
            differing.append(f'{name}: mmcv cannot read it, fastrun can')
            continue
        try:
            got = _read(Config, path)._cfg_dict.to_dict()
        except Exception as e:
            mmcv_only.append(f'{name}: {type(e).__name__}: {e}')
            continue
        if got == expected:
            equal += 1
        else:
            keys = sorted(str(k) for k in set(got) | set(expected) if got.get(k) != expected.get(k))
            differing.append(f'{name}: differs in {", ".join(keys)}')
    assert not mmcv_only, f'{len(mmcv_only)} configs mmcv reads fail in fastrun:\n' + '\n'.join(mmcv_only[:20])
    assert not differing, f'{len(differing)} configs read differently:\n' + '\n'.join(differing[:20])
    assert equal > 400 and both_fail < 20, (equal, both_fail)


@pytest.mark.parametrize('relative', [
    '_base_/datasets/imagenet_bs64_swin_224.py',   # policies={{_base_.rand_increasing_policies}}
    'van/van-b0_8xb128_in1k.py',                    # references in a leaf config
    'resnet/resnet50_b32x8_imagenet.py',            # _deprecation_
])
def test_text_and_pretty_text_of_mmcls_configs(relative):
    folder, _ = _config_files()
    path = osp.join(folder, relative)
    ours, theirs = _read(Config, path), _read(MmcvConfig, path)
    assert ours.text == theirs.text  # the chain of files, each after its path, as mmcv
    assert Config.fromstring(ours.pretty_text).to_dict() == theirs._cfg_dict.to_dict()
    assert MmcvConfig.fromstring(ours.pretty_text, '.py')._cfg_dict.to_dict() == theirs._cfg_dict.to_dict()
