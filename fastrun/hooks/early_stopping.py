"""EarlyStoppingHook: end the run when an evaluation metric stops improving (mmengine's hook)."""
import math
import operator
import warnings
from math import inf

from ..hook import Hook
from ..registry import HOOKS
from .evaluation import EvalHook, infer_rule


@HOOKS.register_module()
class EarlyStoppingHook(Hook):
    """Stop training once ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` evaluations in a row.

    ``rule``: 'greater' or 'less' is better; inferred from the name like ``EvalHook``'s
    ``save_best`` when None. An evaluation improves when its value beats the best so far by
    more than ``min_delta`` (strictly, so with ``min_delta=0`` an equal value does not count;
    mmengine counts it). The run also stops at once when the value is NaN or infinite
    (``check_finite``), or better than ``stopping_threshold``. A missing ``monitor`` warns, or
    raises with ``strict``.

    The hook listens to the run's :class:`EvalHook` / :class:`DistEvalHook`: it is told each
    evaluation's metrics as they are computed, whatever its priority, and in a distributed run
    every rank takes the same decision. Stopping sets ``runner.stop_training``: the runner ends
    after the current epoch (iteration), after that stage's remaining hooks (logging) ran.
    """

    rule_map = {'greater': operator.gt, 'less': operator.lt}

    def __init__(self, monitor, rule=None, patience=3, min_delta=0.0, check_finite=True,
                 stopping_threshold=None, strict=False):
        if not isinstance(monitor, str):
            raise TypeError(f'monitor must be a metric name, got {monitor!r}')
        if rule is None:
            rule = infer_rule(monitor)
        elif rule not in self.rule_map:
            raise ValueError(f'rule must be "greater" or "less", but got {rule!r}')
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f'patience must be a positive int, got {patience!r}')
        if min_delta < 0:
            raise ValueError(f'min_delta must be >= 0, got {min_delta!r}')
        self.monitor = monitor
        self.rule = rule
        self.patience = patience
        self.min_delta = min_delta
        self.check_finite = check_finite
        self.stopping_threshold = stopping_threshold
        self.strict = strict
        #: Best value seen, and evaluations since it was set.
        self.best_score = -inf if rule == 'greater' else inf
        self.wait_count = 0

    def state_dict(self):
        """The counts a resumed run continues from (saved in every checkpoint)."""
        return {'best_score': float(self.best_score), 'wait_count': int(self.wait_count)}

    def load_state_dict(self, state):
        self.best_score = float(state['best_score'])
        self.wait_count = int(state['wait_count'])

    def before_run(self, runner):
        eval_hooks = [h for h in runner.hooks if isinstance(h, EvalHook)]
        if not eval_hooks:
            warnings.warn('EarlyStoppingHook: no EvalHook / DistEvalHook is registered (no '
                          '`evaluation` config or validation set), so it will never stop the run')
        for hook in eval_hooks:
            hook.add_listener(self.after_evaluation)

    def after_evaluation(self, runner, metrics):
        """Update the counts with the metrics of one evaluation; stop the run if it is time."""
        if self.monitor not in metrics:
            msg = (f'EarlyStoppingHook: the evaluation results {list(metrics)} have no '
                   f'{self.monitor!r}')
            if self.strict:
                raise KeyError(msg)
            warnings.warn(msg + '; skipped')
            return
        reason = self._check(float(metrics[self.monitor]))
        if reason is not None:
            runner.stop_training = True
            runner.logger.info('Early stopping: %s', reason)

    def _improves(self, score, reference, margin):
        if self.rule == 'greater':
            return score > reference + margin
        return score < reference - margin

    def _check(self, score):
        """Why the run should stop after ``score``, or None to go on."""
        if self.check_finite and not math.isfinite(score):
            return (f'{self.monitor} = {score} is not finite; the best value was '
                    f'{self.best_score:.4f}')
        threshold = self.stopping_threshold
        if threshold is not None and self._improves(score, threshold, 0):
            self.best_score = score
            return (f'{self.monitor} = {score:.4f} reached the stopping threshold '
                    f'{self.stopping_threshold} ({self.rule} is better)')
        if self._improves(score, self.best_score, self.min_delta):
            self.best_score = score
            self.wait_count = 0
            return None
        self.wait_count += 1
        if self.wait_count >= self.patience:
            return (f'{self.monitor} did not improve by more than {self.min_delta} in the last '
                    f'{self.wait_count} evaluations; the best value was {self.best_score:.4f}')
        return None
