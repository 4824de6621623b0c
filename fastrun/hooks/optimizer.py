"""OptimizerHook: backward, optional gradient clipping, optimizer step."""
import logging

from torch.nn.utils import clip_grad

from ..hook import Hook
from ..registry import HOOKS


@HOOKS.register_module()
class OptimizerHook(Hook):
    """Backward of ``runner.outputs['loss']`` and an optimizer step after each train iteration.

    ``grad_clip=dict(max_norm=..., norm_type=2)`` clips the gradient norm and logs it as
    ``grad_norm`` (a tensor until the logger syncs it). ``amp=dict(dtype='bfloat16'|'float16')``
    builds the AMP variant (autocast around the step, a GradScaler for float16):
    ``OptimizerHook(amp=...)`` returns an ``AmpOptimizerHook`` (still an OptimizerHook), and
    ``optimizer_config=dict(amp=...)`` names that type before building
    (``Runner.register_optimizer_hook``).
    """

    def __new__(cls, *args, amp=None, **kwargs):
        # optimizer_config=dict(amp=dict(dtype=...)) switches AMP on with one key: the hook
        # built is the AMP variant, still an OptimizerHook.
        # The variant is looked up in the registry, not imported: its module builds on this one.
        if amp is not None and cls is OptimizerHook:
            cls = HOOKS.get('AmpOptimizerHook')
        return super().__new__(cls)

    def __init__(self, grad_clip=None, detect_anomalous_params=False, amp=None):
        self.grad_clip = grad_clip
        self.detect_anomalous_params = detect_anomalous_params

    def clip_grads(self, params):
        params = [p for p in params if p.requires_grad and p.grad is not None]
        if params:
            return clip_grad.clip_grad_norm_(params, **self.grad_clip)

    def after_train_iter(self, runner):
        runner.optimizer.zero_grad(set_to_none=True)
        loss = runner.outputs['loss']
        if self.detect_anomalous_params:
            self.detect_anomalous_parameters(loss, runner)
        loss.backward()
        if self.grad_clip is not None:
            grad_norm = self.clip_grads(runner.model.parameters())
            if grad_norm is not None:
                runner.log_buffer.update({'grad_norm': grad_norm.detach()},
                                         runner.outputs.get('num_samples', 1))
        runner.optimizer.step()

    def detect_anomalous_parameters(self, loss, runner):
        """Log the parameters that took no part in computing ``loss`` (mmcv's check)."""
        parameters_in_graph = set()
        visited = set()

        def traverse(grad_fn):
            if grad_fn is None or grad_fn in visited:
                return
            visited.add(grad_fn)
            if hasattr(grad_fn, 'variable'):
                parameters_in_graph.add(grad_fn.variable)
            for parent, _ in grad_fn.next_functions:
                traverse(parent)

        traverse(loss.grad_fn)
        for name, p in runner.model.named_parameters():
            if p not in parameters_in_graph and p.requires_grad:
                # logger.log(level=...) as mmcv calls it: loggers written for mmcv define only log()
                runner.logger.log(level=logging.ERROR,
                                  msg=f'{name} with shape {tuple(p.size())} is not in the computational graph')


# mmcv 1.x's ``mmcv.runner.hooks.optimizer`` also holds the fp16 and accumulating hooks; here
# they live in .optimizer_variants, which builds on this module: looked up, not imported.
_VARIANTS = ('Fp16OptimizerHook', 'GradientCumulativeOptimizerHook',
             'GradientCumulativeFp16OptimizerHook')


def __getattr__(name):
    if name in _VARIANTS:
        return HOOKS.get(name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
