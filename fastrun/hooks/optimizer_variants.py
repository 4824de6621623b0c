"""Optimizer hooks beyond the plain step: mixed precision (``torch.amp``) and gradient accumulation.

``AmpOptimizerHook`` is what ``OptimizerHook(amp=dict(...))`` builds; ``Fp16OptimizerHook``,
``GradientCumulativeOptimizerHook`` and ``GradientCumulativeFp16OptimizerHook`` take mmcv 1.x's
arguments. All are registered for ``optimizer_config=dict(type=...)`` (priority ABOVE_NORMAL).
"""
import warnings

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from ..amp import wrap_fp16_model
from ..errors import ArgumentError, ArgumentTypeError
from ..registry import HOOKS
from .optimizer import OptimizerHook

_DTYPES = {'float16': torch.float16, 'bfloat16': torch.bfloat16}


def _loss_scaler_kwargs(loss_scale):
    """GradScaler kwargs and the fixed scale (or None) for mmcv's ``loss_scale`` argument."""
    if loss_scale == 'dynamic':
        return {}, None
    if isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool):
        # mmcv: a number is a static scale, put back by ``update(scale)`` after every step.
        return dict(init_scale=float(loss_scale)), float(loss_scale)
    if isinstance(loss_scale, dict):
        return dict(loss_scale), None
    raise ValueError(f'loss_scale must be a number, a dict or "dynamic", got {loss_scale!r}')


@HOOKS.register_module()
class AmpOptimizerHook(OptimizerHook):
    """OptimizerHook with automatic mixed precision: ``amp=dict(dtype='bfloat16'|'float16', ...)``.

    At ``before_run`` it sets ``runner.step_context`` to ``torch.autocast`` on the device of the
    model's parameters, so ``train_step``/``val_step`` run their forward in reduced precision
    (the previous context comes back at ``after_run``). ``float16`` scales the loss with a
    ``torch.amp.GradScaler`` (``amp['loss_scale']``: ``'dynamic'`` (default), a number for a
    fixed scale, or a dict of GradScaler arguments); ``bfloat16`` has float32's range and needs
    none (the scaler is then disabled and costs a few Python calls).

    On a CPU, float16 autocast is slow or unsupported, so ``float16`` runs bfloat16 autocast
    there (one warning), still with the loss scaler so that its state and skipped steps behave
    as on a GPU.

    After each train iteration: ``zero_grad(set_to_none=True)``, backward of the scaled loss,
    unscale and clip when ``grad_clip`` is set (``grad_norm`` logged as a tensor), ``step`` (the
    scaler skips steps whose gradients are not finite), ``update``. With a scaler it also logs,
    as tensors (no sync), ``loss_scale`` (the scale used by the step) and ``skipped_step``
    (1 when the step was skipped, so its logged mean is the fraction skipped in the interval);
    ``skipped_steps`` holds the running total (a device tensor). Note that
    ``GradScaler.step`` itself reads the inf check on the host once per step, torch's design,
    unless the optimizer is fused.

    Loss-scaler state: ``runner.meta['fp16']['loss_scaler']`` (mmcv's place, so checkpoints
    carry it) is the scaler's state with its scale and growth tracker as the scaler's own
    device tensors, updated in place by every step: always current, at no per-step cost (the
    usual ``GradScaler.state_dict()`` syncs twice). ``before_run`` loads it back after a resume.
    """

    def __init__(self, grad_clip=None, detect_anomalous_params=False, amp=None):
        super().__init__(grad_clip=grad_clip, detect_anomalous_params=detect_anomalous_params)
        if amp is not None:
            if not isinstance(amp, dict):
                raise TypeError(f'amp must be a dict like dict(dtype="bfloat16"), got {type(amp).__name__}')
            unknown = set(amp) - {'dtype', 'loss_scale'}
            if unknown:
                raise TypeError(f'unknown amp option(s) {sorted(unknown)}; allowed: dtype, loss_scale')
            if amp.get('dtype', 'float16') not in _DTYPES:
                raise ValueError(f'amp dtype must be "float16" or "bfloat16", got {amp.get("dtype")!r}')
            if amp.get('dtype', 'float16') == 'bfloat16' and 'loss_scale' in amp:
                raise ValueError('amp: loss_scale applies to float16 only (bfloat16 needs no scaling)')
            _loss_scaler_kwargs(amp.get('loss_scale', 'dynamic'))  # validate now, not at before_run
        self.amp = amp

    # ------------------------------------------------------------------ set-up
    def before_run(self, runner):
        param = next(runner.model.parameters(), None)
        device = param.device.type if param is not None else 'cpu'
        amp = self.amp
        dtype = _DTYPES[amp.get('dtype', 'float16')] if amp is not None else None
        scaled = dtype is torch.float16
        if dtype is torch.float16 and device == 'cpu':
            warnings.warn('float16 autocast is not supported well on CPU: using bfloat16 autocast '
                          '(with the loss scaler) instead')
            dtype = torch.bfloat16
        kwargs, self._fixed_scale = ({}, None) if not scaled else _loss_scaler_kwargs(
            amp.get('loss_scale', 'dynamic'))
        self.scaler = torch.amp.GradScaler(device, enabled=scaled, **kwargs)
        self.skipped_steps = None
        self._bound_meta = None
        state = ((runner.meta or {}).get('fp16') or {}).get('loss_scaler')
        if scaled and state:
            self.scaler.load_state_dict({k: v.item() if torch.is_tensor(v) else v for k, v in state.items()})
        self._previous_context = runner.step_context
        if dtype is not None:
            runner.step_context = lambda: torch.autocast(device, dtype=dtype)

    def after_run(self, runner):
        runner.step_context = self._previous_context

    # ------------------------------------------------------------------ per iteration
    def after_train_iter(self, runner):
        runner.optimizer.zero_grad(set_to_none=True)
        loss = runner.outputs['loss']
        if self.detect_anomalous_params:
            self.detect_anomalous_parameters(loss, runner)
        self.scaler.scale(loss).backward()
        self.step(runner)

    def step(self, runner):
        """Unscale and clip (with ``grad_clip``), optimizer step through the scaler, scale update."""
        scaler = self.scaler
        optimizer = runner.optimizer
        if self.grad_clip is not None:
            scaler.unscale_(optimizer)
            grad_norm = self.clip_grads(runner.model.parameters())
            if grad_norm is not None:
                runner.log_buffer.update({'grad_norm': grad_norm.detach()},
                                         runner.outputs.get('num_samples', 1))
        scaler.step(optimizer)
        if scaler.is_enabled():
            self._account(runner, optimizer)
        scaler.update(self._fixed_scale)

    def _account(self, runner, optimizer):
        scaler = self.scaler
        scale = scaler._scale
        found = [f.to(scale.device, non_blocking=True)
                 for f in scaler._found_inf_per_device(optimizer).values()]
        if not found:
            skipped = scale.new_zeros(())
        else:
            skipped = torch.stack(found).amax() if len(found) > 1 else found[0]
        self.skipped_steps = skipped.clone() if self.skipped_steps is None else self.skipped_steps + skipped
        # Snapshots: update() changes the scale in place after this.
        runner.log_buffer.update({'loss_scale': scale.detach().clone(), 'skipped_step': skipped})
        if runner.meta is None or runner.meta is not self._bound_meta:
            self._bind_state(runner)

    def _bind_state(self, runner):
        # The scaler's own tensors, not copies: a checkpoint saved at any time holds the
        # current scale. Rebound when runner.meta is replaced (a resume).
        if runner.meta is None:
            runner.meta = {}
        scaler = self.scaler
        runner.meta.setdefault('fp16', {})['loss_scaler'] = dict(
            scale=scaler._scale, growth_factor=scaler.get_growth_factor(),
            backoff_factor=scaler.get_backoff_factor(), growth_interval=scaler.get_growth_interval(),
            _growth_tracker=scaler._growth_tracker)
        self._bound_meta = runner.meta


@HOOKS.register_module()
class Fp16OptimizerHook(AmpOptimizerHook):
    """mmcv 1.x's FP16 hook on ``torch.amp``: float16 autocast and a loss scaler.

    ``loss_scale``: a number (default 512) is a fixed scale (steps with non-finite gradients
    are skipped, the scale stays), ``'dynamic'`` is GradScaler's dynamic scaling, a dict holds
    GradScaler arguments. ``coalesce``, ``bucket_size_mb`` and ``distributed`` are accepted for
    mmcv configs and unused: DistributedDataParallel reduces the gradients. The model is not
    converted to half precision; autocast casts per operation (see AmpOptimizerHook, also for
    CPUs, where bfloat16 autocast is used). On a GPU, ``before_run`` sets ``fp16_enabled`` on
    the model's modules that have the attribute (``wrap_fp16_model``, as mmcv), so their
    ``@auto_fp16`` / ``@force_fp32`` methods cast their inputs; on a CPU (bfloat16) it does not.
    """

    def __init__(self, grad_clip=None, coalesce=True, bucket_size_mb=-1, loss_scale=512.,
                 distributed=True, **kwargs):
        super().__init__(grad_clip=grad_clip, amp=dict(dtype='float16', loss_scale=loss_scale),
                         **kwargs)
        self.coalesce = coalesce
        self.bucket_size_mb = bucket_size_mb
        self.distributed = distributed

    def before_run(self, runner):
        param = next(runner.model.parameters(), None)
        if param is not None and param.device.type == 'cuda':
            wrap_fp16_model(runner.model)
        super().before_run(runner)


@HOOKS.register_module()
class GradientCumulativeOptimizerHook(AmpOptimizerHook):
    """Accumulates gradients over ``cumulative_iters`` iterations per optimizer step (mmcv 1.x).

    Each loss is divided by ``cumulative_iters``; the optimizer steps (then zeroes the
    gradients) after every ``cumulative_iters``-th train iteration of the run and after the
    last one. The run's last ``max_iters % cumulative_iters`` iterations, too few for a full
    group, divide their loss by that remainder instead. Counting is over the whole run
    (``runner.iter``), across epochs, as in mmcv. So 4 iterations of batch 64 with
    ``cumulative_iters=4`` make the step one iteration of batch 256 would (for a mean loss and a
    model without BatchNorm, whose statistics still see batches of 64: a warning says so).
    Other arguments as AmpOptimizerHook (``grad_clip``, ``amp``...).

    With DistributedDataParallel, the iterations that do not step run their forward and backward
    inside the model's ``no_sync()``: gradients accumulate locally and the backward of the
    stepping iteration all-reduces their sum, so ``cumulative_iters`` iterations cost one
    gradient all-reduce instead of ``cumulative_iters``, for the same result.
    """

    def __init__(self, cumulative_iters=1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(cumulative_iters, int) or isinstance(cumulative_iters, bool):
            raise ArgumentTypeError(f'cumulative_iters must be a positive int, got '
                                    f'{type(cumulative_iters).__name__} {cumulative_iters!r}')
        if cumulative_iters < 1:
            raise ArgumentError(f'cumulative_iters must be a positive int, got {cumulative_iters!r}')
        self.cumulative_iters = cumulative_iters
        #: mmcv's names: the run's iterations in full groups, those left over, and whether
        #: :meth:`_init` has run for this run.
        self.divisible_iters = 0
        self.remainder_iters = 0
        self.initialized = False

    def state_dict(self):
        """The gradients accumulated since the last step (a checkpoint taken mid-cycle holds them).

        One process only: under DDP's ``no_sync`` every rank holds its own, so a distributed
        run saves none (the resumed cycle then starts from zero, with the warning below).
        """
        from ..dist import get_dist_info
        params = getattr(self, '_params', None)
        if params is None or get_dist_info()[1] > 1:
            return {'grads': None}
        return {'grads': [None if p.grad is None else p.grad.detach().cpu() for p in params]}

    def load_state_dict(self, state):
        """Take :meth:`state_dict`'s gradients; they are put back at ``before_run``."""
        self._saved_grads = state.get('grads')
        if getattr(self, '_params', None) is not None:  # already running (a resume at before_run)
            self._restore_grads()

    def _restore_grads(self):
        grads, self._saved_grads = getattr(self, '_saved_grads', None), None
        if grads is None or len(grads) != len(self._params):
            return False
        for p, g in zip(self._params, grads):
            p.grad = None if g is None else g.to(p.device)
        return True

    def has_batch_norm(self, module):
        """True when ``module`` or one of its submodules is a BatchNorm layer (mmcv's helper)."""
        return any(isinstance(m, _BatchNorm) for m in module.modules())

    def _init(self, runner, grads_restored=False):
        """mmcv's set-up for a run: the warnings, and how the run's iterations fall into groups.

        ``divisible_iters``: the iterations in full groups of ``cumulative_iters``;
        ``remainder_iters``: the ones after them (their loss is divided by this number).
        ``grads_restored``: the accumulated gradients came back with a resume, so a resume in
        the middle of a group loses nothing (mmcv always warns there).
        """
        if runner.iter % self.cumulative_iters != 0 and not grads_restored:
            runner.logger.warning(
                'Resume iter number is not divisible by cumulative_iters in '
                'GradientCumulativeOptimizerHook: the gradients of the iterations since the last '
                'step were lost, which may influence the result slightly.')
        if self.has_batch_norm(runner.model) and self.cumulative_iters > 1:
            runner.logger.warning('GradientCumulativeOptimizerHook may slightly decrease '
                                  'performance if the model has BatchNorm layers.')
        self.divisible_iters = runner.max_iters // self.cumulative_iters * self.cumulative_iters
        self.remainder_iters = runner.max_iters - self.divisible_iters
        self._warned_remainder = False
        self.initialized = True

    def before_run(self, runner):
        super().before_run(runner)
        self._params = list(runner.model.parameters())
        self._init(runner, grads_restored=self._restore_grads())
        self._no_sync = None
        self._skip_sync_if_no_step(runner, runner.iter)

    def after_run(self, runner):
        self._resume_sync()
        super().after_run(runner)

    def _steps_at(self, runner, it):
        # The iteration numbered ``it`` (0-based, over the run) ends with an optimizer step.
        return (it + 1) % self.cumulative_iters == 0 or it + 1 == runner.max_iters

    def _skip_sync_if_no_step(self, runner, it):
        """Enter DDP's ``no_sync()`` for iteration ``it`` when it does not step."""
        no_sync = getattr(runner.model, 'no_sync', None)
        if (no_sync is None or self.cumulative_iters == 1 or it >= runner.max_iters
                or self._steps_at(runner, it)):
            return
        # Entered here and left after the backward of that iteration: DDP decides in its
        # forward whether the backward reduces, so the forward must run inside the context.
        self._no_sync = no_sync()
        self._no_sync.__enter__()

    def _resume_sync(self):
        ctx, self._no_sync = self._no_sync, None
        if ctx is not None:
            ctx.__exit__(None, None, None)

    def _get_loss_factor(self, runner):
        """What the loss of the current iteration is divided by (mmcv's name and meaning).

        ``cumulative_iters`` in the full groups, ``remainder_iters`` in the run's last
        iterations that make no full group (one warning the first time).
        """
        if runner.iter < runner.max_iters - self.remainder_iters:
            return self.cumulative_iters
        if not self._warned_remainder:
            self._warned_remainder = True
            runner.logger.warning(
                f'Loss will be divided by {self.remainder_iters} in the last {self.remainder_iters} '
                f'iterations because they are not enough for {self.cumulative_iters} cumulative_iters.')
        return self.remainder_iters

    def after_train_iter(self, runner):
        loss = runner.outputs['loss']
        if self.detect_anomalous_params:
            self.detect_anomalous_parameters(loss, runner)
        self.scaler.scale(loss / self._get_loss_factor(runner)).backward()
        self._resume_sync()
        if self.every_n_iters(runner, self.cumulative_iters) or self.is_last_iter(runner):
            self.step(runner)
            runner.optimizer.zero_grad(set_to_none=True)
        self._skip_sync_if_no_step(runner, runner.iter + 1)


@HOOKS.register_module()
class GradientCumulativeFp16OptimizerHook(GradientCumulativeOptimizerHook, Fp16OptimizerHook):
    """GradientCumulativeOptimizerHook with Fp16OptimizerHook's mixed precision (mmcv 1.x)."""
