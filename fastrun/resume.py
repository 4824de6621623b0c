"""What an exact resume needs beyond weights and optimizer: RNG states, hook states, data positions.

Everything here becomes plain types and tensors, so checkpoints load with
``torch.load(weights_only=True)`` and no allow-list.
"""
import random

import numpy as np
import torch

from .sampler import sampler_of

__all__ = ['rng_state', 'set_rng_state', 'hook_states', 'load_hook_states', 'log_buffer_state',
           'load_log_buffer_state', 'loader_state', 'load_loader_state']


def rng_state():
    """The states of Python's, NumPy's, torch's CPU and (when initialised) CUDA RNGs."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = {
        'python': {'version': version, 'state': torch.tensor(internal, dtype=torch.int64),
                   'gauss': gauss},
        'numpy': {'name': str(name), 'keys': torch.from_numpy(keys.astype(np.int64)),
                  'pos': int(pos), 'has_gauss': int(has_gauss), 'cached_gaussian': float(cached)},
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    """Restore :func:`rng_state` (the CUDA states when there are as many devices)."""
    py = state['python']
    random.setstate((py['version'], tuple(int(x) for x in py['state'].tolist()), py['gauss']))
    npy = state['numpy']
    np.random.set_state((npy['name'], npy['keys'].numpy().astype(np.uint32), npy['pos'],
                         npy['has_gauss'], npy['cached_gaussian']))
    torch.set_rng_state(state['torch'])
    cuda = state.get('cuda')
    if cuda and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all(cuda)


def _keyed(hooks):
    # Class name, '#2', '#3'... for the next hooks of the same class, in call order.
    seen = {}
    for hook in hooks:
        name = type(hook).__name__
        seen[name] = seen.get(name, 0) + 1
        yield (name if seen[name] == 1 else f'{name}#{seen[name]}'), hook


def hook_states(hooks):
    """``{key: hook.state_dict()}`` for the hooks that define ``state_dict``."""
    return {key: hook.state_dict() for key, hook in _keyed(hooks)
            if callable(getattr(hook, 'state_dict', None))}


def load_hook_states(hooks, states, logger):
    """Call ``load_state_dict`` of each hook with its entry of ``states``; warn for the rest."""
    done = set()
    for key, hook in _keyed(hooks):
        if key in states and callable(getattr(hook, 'load_state_dict', None)):
            hook.load_state_dict(states[key])
            done.add(key)
    left = sorted(set(states) - done)
    if left:
        logger.warning('resume: no registered hook takes the saved state of %s', ', '.join(left))


def log_buffer_state(buffer, n):
    """The last ``n`` logged values of each key (what the next averages of a logger need).

    ``materialize`` turns pending tensors into floats: a host sync, once per checkpoint.
    """
    if n <= 0:
        return {}
    buffer.materialize()
    state = {}
    for key, hist in buffer.val_history.items():
        values = hist[-n:]
        if all(isinstance(v, (int, float)) for v in values):  # numbers only: what loggers average
            state[key] = {'values': [float(v) for v in values],
                          'counts': [float(c) for c in buffer.n_history[key][-n:]]}
    return state


def load_log_buffer_state(buffer, state):
    """Put the values of :func:`log_buffer_state` back into an empty ``buffer``."""
    for key, entry in state.items():
        for value, count in zip(entry['values'], entry['counts']):
            buffer.update({key: value}, count)


def loader_state(loader):
    """The sampler state (seed, epoch) and RNG of a data loader: what fixes its order."""
    state = {}
    sampler = sampler_of(loader)
    if callable(getattr(sampler, 'state_dict', None)):
        state['sampler'] = sampler.state_dict()
    generator = getattr(loader, 'generator', None)
    if isinstance(generator, torch.Generator):
        state['generator'] = generator.get_state()
    return state


def load_loader_state(loader, state):
    """Restore :func:`loader_state` into ``loader`` (entries it cannot take are ignored)."""
    sampler = sampler_of(loader)
    if 'sampler' in state and callable(getattr(sampler, 'load_state_dict', None)):
        sampler.load_state_dict(state['sampler'])
    generator = getattr(loader, 'generator', None)
    if 'generator' in state and isinstance(generator, torch.Generator):
        generator.set_state(state['generator'])
