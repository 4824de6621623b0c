"""The LAMB optimizer (mmcls 0.x's ``Lamb``; `arXiv:1904.00962 <https://arxiv.org/abs/1904.00962>`_).

Adam's moments with decoupled weight decay, then each parameter's update scaled by the trust
ratio ``||w|| / ||update||`` (1 where either norm is 0; capped at 1 with ``trust_clip``),
after all gradients are divided by ``max(1, global grad norm / max_grad_norm)``. The trust ratio
is applied where ``weight_decay != 0`` or ``always_adapt``. Arguments and defaults are
mmcls's (``optimizer=dict(type='Lamb', lr=..., weight_decay=...)``).
"""
import math

import torch
from torch.optim.optimizer import Optimizer

from ..registry import OPTIMIZERS

__all__ = ['Lamb']


@OPTIMIZERS.register_module()
class Lamb(Optimizer):
    """LAMB: layer-wise adaptive moments for large-batch training (see the module)."""

    def __init__(self, params, lr=1e-3, bias_correction=True, betas=(0.9, 0.999), eps=1e-6,
                 weight_decay=0.01, grad_averaging=True, max_grad_norm=1.0, trust_clip=False,
                 always_adapt=False):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f'lr, eps and weight_decay must be >= 0, got {lr}, {eps}, {weight_decay}')
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f'betas must be in [0, 1), got {betas}')
        super().__init__(params, dict(lr=lr, bias_correction=bias_correction, betas=betas, eps=eps,
                                      weight_decay=weight_decay, grad_averaging=grad_averaging,
                                      max_grad_norm=max_grad_norm, trust_clip=trust_clip,
                                      always_adapt=always_adapt))

    def load_state_dict(self, state_dict):
        """Load ``state_dict``; the moments are copied, so later steps leave the dict unchanged
        (torch keeps the given tensors when dtype and device match, and steps update in place)."""
        super().load_state_dict(state_dict)
        for state in self.state.values():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    state[key] = value.clone()

    def _clip_divisor(self):
        grads = [p.grad for g in self.param_groups for p in g['params'] if p.grad is not None]
        for grad in grads:
            if grad.is_sparse:
                raise RuntimeError('Lamb does not support sparse gradients, consider SparseAdam instead.')
        if not grads:
            return None
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        # Divided only when the norm exceeds the limit; no host sync (a tensor throughout).
        return torch.clamp(norm / self.defaults['max_grad_norm'], min=1.0)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        divisor = self._clip_divisor()
        if divisor is None:
            return loss
        for group in self.param_groups:
            beta1, beta2 = group['betas']
            beta3 = 1 - beta1 if group['grad_averaging'] else 1.0
            # One step count per group (every parameter of a group steps together).
            group['step'] = group.get('step', 0) + 1
            if group['bias_correction']:
                c1, c2 = 1 - beta1 ** group['step'], 1 - beta2 ** group['step']
            else:
                c1 = c2 = 1.0
            wd = group['weight_decay']
            for p in group['params']:
                if p.grad is None:
                    continue
                grad = p.grad.div_(divisor)
                state = self.state[p]
                if not state:
                    state['exp_avg'] = torch.zeros_like(p)
                    state['exp_avg_sq'] = torch.zeros_like(p)
                m, v = state['exp_avg'], state['exp_avg_sq']
                m.mul_(beta1).add_(grad, alpha=beta3)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                update = (m / c1).div_((v.sqrt() / math.sqrt(c2)).add_(group['eps']))
                if wd != 0:
                    update.add_(p, alpha=wd)
                if wd != 0 or group['always_adapt']:
                    w_norm, u_norm = p.norm(2.0), update.norm(2.0)
                    ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm,
                                        torch.ones_like(w_norm))
                    if group['trust_clip']:
                        ratio = ratio.clamp(max=1.0)
                    update.mul_(ratio)
                p.add_(update, alpha=-group['lr'])
        return loss
