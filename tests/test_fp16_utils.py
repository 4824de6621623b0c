"""mmcv 1.x's fp16 helpers: what ``@auto_fp16`` / ``@force_fp32`` do to a module's methods,
``cast_tensor_type``, ``patch_norm_fp32`` and ``LossScaler``."""
import collections

import numpy as np
import pytest
import torch
from torch import nn

from fastrun.fp16_utils import (LossScaler, auto_fp16, cast_tensor_type, force_fp32,
                                patch_norm_fp32, wrap_fp16_model)

F32, F16 = torch.float32, torch.float16


def dtypes(values):
    return [v.dtype for v in values]


def test_cast_tensor_type_casts_the_source_dtype_only_and_keeps_containers():
    Pair = collections.namedtuple('Pair', 'a b')
    data = dict(x=torch.ones(1), n=torch.ones(1, dtype=torch.int64),
                seq=[torch.ones(1), (torch.ones(1), 'label')], pair=Pair(torch.ones(1), 3),
                arr=np.ones(1), module=nn.Linear(1, 1))
    out = cast_tensor_type(data, F32, F16)
    assert type(out) is dict and out['x'].dtype == F16 and out['n'].dtype == torch.int64
    assert type(out['seq']) is list and type(out['seq'][1]) is tuple
    assert out['seq'][0].dtype == F16 and out['seq'][1][0].dtype == F16 and out['seq'][1][1] == 'label'
    assert type(out['pair']) is Pair and out['pair'].a.dtype == F16 and out['pair'].b == 3
    assert out['arr'] is data['arr'] and out['module'] is data['module']
    assert out['module'].weight.dtype == F32  # modules are left alone
    assert cast_tensor_type(5, None, None) == 5 and cast_tensor_type('s', str, str) == 's'


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fp16_enabled = False

    @auto_fp16(apply_to=('x', 'y'))
    def half_xy(self, x, y=None, z=None):
        return x, y, z

    @auto_fp16(out_fp32=True)
    def half_inside(self, x):
        assert x.dtype == F16
        return x * 2

    @force_fp32(apply_to=('x',))
    def float_x(self, x, y):
        return x, y

    @force_fp32(out_fp16=True)
    def float_inside(self, x):
        assert x.dtype == F32
        return x + 1


def test_nothing_is_cast_until_fp16_is_enabled():
    net = Net()
    assert dtypes(net.half_xy(torch.ones(1), y=torch.ones(1), z=torch.ones(1))) == [F32] * 3
    assert dtypes(net.float_x(torch.ones(1, dtype=F16), torch.ones(1, dtype=F16))) == [F16] * 2
    wrap_fp16_model(net)
    assert net.fp16_enabled
    x, y, z = net.half_xy(torch.ones(1), y=torch.ones(1), z=torch.ones(1))
    assert dtypes([x, y, z]) == [F16, F16, F32]  # z is not in apply_to
    assert net.half_inside(torch.ones(1)).dtype == F32  # out_fp32: back to float32
    assert dtypes(net.float_x(torch.ones(1, dtype=F16), torch.ones(1, dtype=F16))) == [F32, F16]
    assert net.float_inside(torch.ones(1, dtype=F16)).dtype == F16  # out_fp16
    ints = net.half_xy(torch.ones(1, dtype=torch.int64))[0]
    assert ints.dtype == torch.int64  # only float32 tensors become float16


def test_force_fp32_switches_autocast_off_when_enabled():
    class Head(nn.Module):
        fp16_enabled = True

        @force_fp32()
        def loss(self, a, b):
            return a @ b

    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
        assert Head().loss(torch.ones(2, 2), torch.ones(2, 2)).dtype == F32


def test_the_decorators_belong_on_module_methods():
    class NotAModule:
        @auto_fp16()
        def f(self, x):
            return x

        @force_fp32()
        def g(self, x):
            return x

    with pytest.raises(TypeError, match='@auto_fp16 can only be used to decorate the method of '
                                        r'those classes \(Module\), got NotAModule'):
        NotAModule().f(torch.ones(1))
    with pytest.raises(TypeError, match='@force_fp32'):
        NotAModule().g(torch.ones(1))


def test_patch_norm_fp32_keeps_the_norm_layers_of_a_half_model_in_float32():
    model = nn.Sequential(nn.Conv2d(2, 4, 1), nn.GroupNorm(2, 4), nn.BatchNorm2d(4)).half()
    patch_norm_fp32(model)
    assert model[0].weight.dtype == F16
    assert model[1].weight.dtype == F32 and model[2].weight.dtype == F32
    x = torch.randn(1, 4, 3, 3).half()
    out = model[1](x)  # computed in float32, returned in float16
    assert out.dtype == F16
    ref = nn.functional.group_norm(x.float(), 2, model[1].weight, model[1].bias).half()
    torch.testing.assert_close(out, ref)


def test_loss_scaler_lowers_on_overflow_and_raises_after_a_clean_window():
    scaler = LossScaler(init_scale=2 ** 4, scale_factor=2, scale_window=3)
    p = nn.Parameter(torch.ones(2))
    p.grad = torch.tensor([1.0, float('inf')])
    assert scaler.has_overflow([p]) and LossScaler._has_inf_or_nan(p.grad)
    scales = []
    for overflow in [True, False, False, False, True, True]:
        scaler.update_scale(overflow)
        scales.append(scaler.loss_scale)
    assert scales == [8, 8, 8, 16, 8, 4]
    restored = LossScaler()
    restored.load_state_dict(scaler.state_dict())
    assert restored.state_dict() == scaler.state_dict()
    p.grad = torch.ones(2)
    assert not scaler.has_overflow([p])
    static = LossScaler(init_scale=512, mode='static')
    static.update_scale(True)
    p.grad = torch.tensor([float('nan'), 1.0])
    assert static.loss_scale == 512 and not static.has_overflow([p])
    with pytest.raises(AssertionError, match="'dynamic' or 'static'"):
        LossScaler(mode='auto')


@pytest.mark.cuda
def test_on_a_gpu_auto_fp16_runs_under_float16_autocast_and_force_fp32_without():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4).cuda()  # float32 weights, as fastrun keeps them
            self.fp16_enabled = True

        @auto_fp16()
        def forward(self, x):
            return self.fc(x)

        @force_fp32()
        def loss(self, y):
            return self.fc(y)

    net = Net()
    y = net(torch.ones(2, 4, device='cuda'))
    assert y.dtype == F16  # the input cast, the linear layer run in float16 by autocast
    with torch.autocast('cuda', dtype=F16):
        assert net.loss(y).dtype == F32


@pytest.mark.cuda
def test_fp16_optimizer_hook_enables_the_decorators_of_a_gpu_model():
    from fastrun import Fp16OptimizerHook, Runner

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 1)
            self.fp16_enabled = False
            self.seen = []

        @auto_fp16(apply_to=('x',))
        def forward(self, x):
            self.seen.append(x.dtype)
            return self.fc(x)

        def train_step(self, batch, optimizer=None, **kwargs):
            loss = self(batch[0]).float().pow(2).mean()
            return dict(loss=loss, log_vars=dict(loss=loss.detach()), num_samples=len(batch[0]))

    net = Net().cuda()
    runner = Runner(net, optimizer=torch.optim.SGD(net.parameters(), lr=0.1), max_epochs=1)
    runner.register_hook(Fp16OptimizerHook(loss_scale='dynamic'), 'ABOVE_NORMAL')
    runner.run([[(torch.ones(2, 4, device='cuda'), None)]], [('train', 1)])
    assert net.fp16_enabled and net.seen == [F16]
