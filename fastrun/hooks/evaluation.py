"""EvalHook / DistEvalHook: evaluate on a validation set while training; keep the best checkpoint."""
import operator
import os.path as osp
import warnings
from math import inf

import torch.distributed as dist
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

from .. import storage
from ..dist import get_dist_info
from ..errors import ArgumentTypeError
from ..evaluation import multi_gpu_test, single_gpu_test
from ..hook import Hook
from ..registry import HOOKS
from ..step import DeviceLoader
from .checkpoint import resolve_out_dir, work_location
from .logger.base import LoggerHook

# What evaluates: a torch DataLoader, or fastrun's DeviceLoader around one (what the builder
# gives, batches already on the device).
_LOADER_TYPES = (DataLoader, DeviceLoader)

#: Metric keys (or parts of keys) for which a greater value is better (mmcv's list).
DEFAULT_GREATER_KEYS = ('acc', 'top', 'AR@', 'auc', 'precision', 'mAP', 'mDice', 'mIoU', 'mAcc',
                        'aAcc')
#: Arguments of DistEvalHook that EvalHook (one process) ignores.
_DIST_ONLY = ('gpu_collect', 'tmpdir', 'broadcast_bn_buffer')

#: Metric keys (or parts of keys) for which a smaller value is better.
DEFAULT_LESS_KEYS = ('loss',)


def infer_rule(key, greater_keys=DEFAULT_GREATER_KEYS, less_keys=DEFAULT_LESS_KEYS):
    """'greater' or 'less' for metric ``key``, case-insensitively (mmcv's order).

    An exact match with a greater key, then with a less key; then a greater key contained in
    ``key``, then a less key contained in it. ValueError when nothing matches.
    """
    key_lc = key.lower()
    greater = [k.lower() for k in greater_keys]
    less = [k.lower() for k in less_keys]
    if key_lc in greater:
        return 'greater'
    if key_lc in less:
        return 'less'
    if any(k in key_lc for k in greater):
        return 'greater'
    if any(k in key_lc for k in less):
        return 'less'
    raise ValueError(f'Cannot infer the rule for key {key}, thus a specific rule must be '
                     f"specified (rule='greater' or rule='less').")


def _str_keys(keys, name):
    if isinstance(keys, str):
        return (keys,)
    if not (isinstance(keys, (list, tuple)) and all(isinstance(k, str) for k in keys)):
        raise ArgumentTypeError(f'{name} must be a str or a list of str, got {keys!r}')
    return tuple(keys)


@HOOKS.register_module(name=['EvalHook', 'EvaluationHook'])
class EvalHook(Hook):
    """Evaluate the model on ``dataloader`` every ``interval`` epochs (``by_epoch``) or iterations.

    Each evaluation runs ``test_fn(runner.model, dataloader)`` (default
    :func:`~fastrun.evaluation.single_gpu_test`), then
    ``dataloader.dataset.evaluate(results, logger=runner.logger, **eval_kwargs)``, whose
    ``{name: value}`` goes to ``runner.log_buffer.output`` (ready) so the logger hooks log it as
    ``val``; the model is put back in its previous (train) mode.

    ``start``: no evaluation before epoch (iteration) ``start``; from there on every ``interval``;
    when the run begins (or resumes) at or after ``start``, it evaluates once before training
    (mmcv). ``start=None``: every ``interval`` from the beginning.

    ``save_best``: a metric name, or ``'auto'``/``True`` for the first one returned; whenever it
    beats ``runner.meta['hook_msgs']['best_score']`` (by ``rule``, inferred from the name with
    ``greater_keys``/``less_keys`` when None) the model is saved as
    ``best_<metric>_epoch_<N>.pth`` (``_iter_<N>``) in the work dir (``out_dir/<basename of
    work_dir>`` with an ``out_dir``), then the previous best file is removed. The score and path
    live in ``runner.meta['hook_msgs']`` (``best_score``, ``best_ckpt``), so a resumed run keeps
    them. At an epoch's (iteration's) end the best file is written with that stage's other
    checkpoints, after the hooks up to ``LOW`` priority (a hard link to ``epoch_N.pth`` when that
    is saved too, see :mod:`fastrun.state`). A previous best read from a checkpoint is removed
    only when it is a ``best_*.pth`` file of this hook's own folder: a path in a checkpoint
    never chooses what is deleted.

    :meth:`add_listener` lets other hooks (early stopping) receive each evaluation's metrics.
    """

    rule_map = {'greater': operator.gt, 'less': operator.lt}
    init_value_map = {'greater': -inf, 'less': inf}
    _default_greater_keys = list(DEFAULT_GREATER_KEYS)
    _default_less_keys = list(DEFAULT_LESS_KEYS)

    def __init__(self, dataloader, start=None, interval=1, by_epoch=True, save_best=None,
                 rule=None, test_fn=None, greater_keys=None, less_keys=None, out_dir=None,
                 file_client_args=None, **eval_kwargs):
        if not isinstance(dataloader, _LOADER_TYPES):
            raise TypeError(f'dataloader must be a pytorch DataLoader, but got {type(dataloader)}')
        if not isinstance(interval, int) or interval <= 0:
            raise ValueError(f'interval must be a positive number, but got {interval!r}')
        if not isinstance(by_epoch, bool):
            raise ArgumentTypeError(f'by_epoch must be a bool, got {by_epoch!r}')
        if start is not None and start < 0:
            raise ValueError(f'The evaluation start epoch {start} is smaller than 0')
        if not (save_best is None or isinstance(save_best, str)):
            hint = " (save_best='auto' keeps the best of the first metric)" \
                if isinstance(save_best, bool) else ''
            raise ArgumentTypeError(f'save_best must be a str or None, got {save_best!r}{hint}')
        if rule is not None and rule not in self.rule_map:
            raise KeyError(f'rule must be greater, less or None, but got {rule!r}.')
        self.dataloader = dataloader
        self.start = start
        self.interval = interval
        self.by_epoch = by_epoch
        self.save_best = save_best
        self.test_fn = single_gpu_test if test_fn is None else test_fn
        self.greater_keys = (self._default_greater_keys if greater_keys is None
                             else _str_keys(greater_keys, 'greater_keys'))
        self.less_keys = (self._default_less_keys if less_keys is None
                          else _str_keys(less_keys, 'less_keys'))
        self.out_dir = out_dir
        self.file_client_args = file_client_args
        if not isinstance(self, DistEvalHook):
            # DistEvalHook's own options, in a config shared by one-process and distributed
            # runs: they concern several processes, so one process has nothing to do with them
            # (passing them on to dataset.evaluate would fail at the first evaluation).
            for name in _DIST_ONLY:
                eval_kwargs.pop(name, None)
        self.eval_kwargs = eval_kwargs
        self.rule = rule
        self.key_indicator = save_best
        if save_best is not None and save_best != 'auto' and rule is None:
            self.rule = infer_rule(save_best, self.greater_keys, self.less_keys)
        self.best_ckpt_path = None
        #: The metrics of the last evaluation (every rank gets them in a distributed run).
        self.latest_results = None
        self.initial_flag = True
        self._listeners = []
        if not by_epoch:
            # Bound on the instance so that only an iteration-wise hook sits in the
            # per-iteration dispatch tables: an epoch-wise one costs no call per iteration.
            self.before_train_iter = self._before_train_iter
            self.after_train_iter = self._after_train_iter

    def add_listener(self, fn):
        """Call ``fn(runner, metrics)`` after each evaluation with its ``{name: value}``.

        In a distributed run every rank calls it with rank 0's metrics, so decisions taken on
        them (stopping the run) agree.
        """
        if fn not in self._listeners:
            self._listeners.append(fn)

    # ---------------------------------------------------------------- stages
    def before_run(self, runner):
        if self.save_best is None:
            return
        self.save_dir = resolve_out_dir(self.out_dir, work_location(runner),
                                        self.file_client_args, type(self).__name__)
        if self.save_dir != work_location(runner):
            runner.logger.info('The best checkpoint will be saved to %s',
                               storage.redact(self.save_dir))
        if runner.rank == 0:
            storage.check_access(self.save_dir)
        if runner.meta is None:
            runner.meta = {}
        hook_msgs = runner.meta.setdefault('hook_msgs', {})
        self.best_ckpt_path = hook_msgs.get('best_ckpt')
        runner.run_state.end_stage_saves(runner, 'after_train_epoch' if self.by_epoch
                                         else 'after_train_iter')

    def before_train_epoch(self, runner):
        """Evaluate once before training when the run starts at or after ``start``."""
        if not (self.by_epoch and self.initial_flag):
            return
        if self.start is not None and runner.epoch >= self.start:
            self._initial = True  # its best checkpoint is saved at once, not at a stage's end
            try:
                self.after_train_epoch(runner)
            finally:
                self._initial = False
        self.initial_flag = False

    def _before_train_iter(self, runner):
        if not self.initial_flag:
            return
        if self.start is not None and runner.iter >= self.start:
            self._initial = True
            try:
                self._after_train_iter(runner)
            finally:
                self._initial = False
        self.initial_flag = False

    def after_train_epoch(self, runner):
        if self.by_epoch and self._should_evaluate(runner):
            self._evaluate_at(runner, 'after_train_epoch')

    def _after_train_iter(self, runner):
        if not self._should_evaluate(runner):
            return
        # This hook runs before the logger hooks: log the train values first and clear them,
        # so that the evaluation results are logged alone, as 'val' (mmcv does the same).
        for hook in runner.hooks:
            if isinstance(hook, LoggerHook):
                hook.after_train_iter(runner)
        runner.log_buffer.clear()
        self._evaluate_at(runner, 'after_train_iter')

    def _evaluate_at(self, runner, stage):
        # The stage whose end the best checkpoint may wait for (None: saved at once).
        self._stage = None if getattr(self, '_initial', False) else stage
        try:
            self._do_evaluate(runner)
        finally:
            self._stage = None

    # ---------------------------------------------------------------- evaluation
    def _should_evaluate(self, runner):
        """Whether the epoch (iteration) that just ended is an evaluation one."""
        done = (runner.epoch if self.by_epoch else runner.iter) + 1
        if self.start is None:
            return done % self.interval == 0
        return done >= self.start and (done - self.start) % self.interval == 0

    def _test(self, runner, **kwargs):
        model = runner.model
        was_training = model.training
        try:
            return self.test_fn(model, self.dataloader, **kwargs)
        finally:
            model.train(was_training)

    def _do_evaluate(self, runner):
        """Test, evaluate, log, and save the best checkpoint."""
        results = self._test(runner)
        runner.log_buffer.output['eval_iter_num'] = len(self.dataloader)
        key_score = self.evaluate(runner, results)
        if self.save_best and key_score is not None:
            self._save_ckpt(runner, key_score)

    def evaluate(self, runner, results):
        """Score ``results`` with the data set, publish the metrics; the ``save_best`` score."""
        eval_res = self.dataloader.dataset.evaluate(results, logger=runner.logger,
                                                    **self.eval_kwargs)
        for name, val in eval_res.items():
            runner.log_buffer.output[name] = val
        runner.log_buffer.ready = True
        self._publish(runner, eval_res)
        if self.save_best is None:
            return None
        if not eval_res:
            # mmcv's words: code written for it matches this text.
            warnings.warn('Since `eval_res` is an empty dict, the behavior to save the best '
                          'checkpoint will be skipped in this evaluation.')
            return None
        if self.key_indicator == 'auto':
            self.key_indicator = next(iter(eval_res))
            if self.rule is None:
                self.rule = infer_rule(self.key_indicator, self.greater_keys, self.less_keys)
        if self.key_indicator not in eval_res:
            raise KeyError(f'save_best={self.key_indicator!r} is not among the evaluation '
                           f'results {list(eval_res)}')
        return eval_res[self.key_indicator]

    def _publish(self, runner, eval_res):
        self.latest_results = dict(eval_res)
        for fn in self._listeners:
            fn(runner, self.latest_results)

    def _is_better(self, runner, key_score):
        """Whether ``key_score`` beats ``runner.meta['hook_msgs']['best_score']`` (by ``rule``)."""
        hook_msgs = (runner.meta or {}).get('hook_msgs', {})
        return self.rule_map[self.rule](key_score, hook_msgs.get('best_score',
                                                                 self.init_value_map[self.rule]))

    def _best_name(self, runner):
        if self.by_epoch:
            return f'best_{self.key_indicator}_epoch_{runner.epoch + 1}.pth'
        return f'best_{self.key_indicator}_iter_{runner.iter + 1}.pth'

    def _save_ckpt(self, runner, key_score):
        """Save the model as the new best if ``key_score`` beats the best so far."""
        if not self._is_better(runner, key_score):
            return
        hook_msgs = runner.meta.setdefault('hook_msgs', {})
        unit, number = ('epoch', runner.epoch + 1) if self.by_epoch else ('iter', runner.iter + 1)
        # A plain float: numpy scalars would not load with weights_only=True.
        best_score = float(key_score)
        name = self._best_name(runner)
        path = storage.join(self.save_dir, name)
        previous = self.best_ckpt_path
        before = {k: hook_msgs[k] for k in ('best_score', 'best_ckpt') if k in hook_msgs}
        hook_msgs['best_score'] = best_score
        hook_msgs['best_ckpt'] = path

        def written(_):
            self.best_ckpt_path = path
            # Removed only once the new one is complete: a crash in between leaves one best file.
            self._remove_previous(runner, previous, path)
            runner.logger.info('Now best checkpoint is saved as %s.', name)
            runner.logger.info('Best %s is %.4f at %d %s.', self.key_indicator, best_score,
                               number, unit)

        def failed():
            # Not saved (disk full, non-finite model): the previous best stays the best.
            hook_msgs.pop('best_score', None)
            hook_msgs.pop('best_ckpt', None)
            hook_msgs.update(before)

        # Refused for a model holding NaN/inf (FloatingPointError): never a broken best.
        # As the run's CheckpointHook saves (save_optimizer=False: no optimizer in the best
        # file either), so that the best file can be a hard link to that stage's checkpoint.
        saver = next((h for h in runner.hooks if type(h).__name__ == 'CheckpointHook'), None)
        runner.run_state.save_at_stage_end(runner, getattr(self, '_stage', None), self.save_dir,
                                           name, save_optimizer=getattr(saver, 'save_optimizer', True),
                                           create_symlink=False, written=written, failed=failed)

    def _remove_previous(self, runner, previous, path):
        """Delete the previous best file, only if it is a ``best_*.pth`` of this hook's folder.

        ``previous`` may come from a checkpoint's meta (a resume): a path read from a file never
        chooses what is deleted outside the folder this hook writes to. On a URL the removal
        is queued after the new file's upload.
        """
        if not previous or not isinstance(previous, str):
            return
        try:
            same = storage.resolve(previous) == storage.resolve(path)
            inside = _real_folder(storage.parent(previous)) == _real_folder(self.save_dir)
        except (ValueError, OSError):  # not a path fastrun can use (a URL of no known backend...)
            same, inside = False, False
        name = storage.basename(previous)
        is_best_name = name.startswith('best_') and name.endswith('.pth')
        if is_best_name and not inside:
            # A resume into another work dir: the best so far is the other run's file.
            runner.logger.warning('The previous best checkpoint %s belongs to another folder (this '
                                  "run saves to %s): left alone, and this run's best is saved here",
                                  storage.redact(previous), storage.redact(self.save_dir))
            return
        if not is_best_name:
            runner.logger.warning('The previous best checkpoint %s is not a best_*.pth file of %s: '
                                  'left alone', storage.redact(previous), storage.redact(self.save_dir))
            return
        # On a URL no question to the store (training never waits for it): a removal of a file
        # that is gone already is no error.
        if same or (not storage.is_remote(previous) and not storage.isfile(previous)):
            return
        storage.remove(previous)
        runner.logger.info('The previous best checkpoint %s was removed', storage.redact(previous))


#: The name mmcv's documentation uses.
EvaluationHook = EvalHook


def _broadcast_bn_buffers(model):
    # DDP does not keep BatchNorm statistics equal across ranks: evaluate with rank 0's.
    for module in model.modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            dist.broadcast(module.running_var, 0)
            dist.broadcast(module.running_mean, 0)


@HOOKS.register_module()
class DistEvalHook(EvalHook):
    """:class:`EvalHook` for distributed runs: every rank tests its share, rank 0 evaluates.

    ``broadcast_bn_buffer`` copies rank 0's BatchNorm statistics to every rank first (mmcv).
    The results of all ranks are gathered to rank 0 in data set order, the distributed
    sampler's padding dropped so each sample counts once (``test_fn``, default
    :func:`~fastrun.evaluation.multi_gpu_test`: through ``torch.distributed.gather_object``, or
    files in ``tmpdir`` when one is given and ``gpu_collect`` is False). Rank 0 evaluates, then
    the metrics are broadcast: every rank has them in ``runner.log_buffer.output`` and its
    listeners (early stopping) receive them, so all ranks take the same decisions. Rank 0 alone
    writes the best checkpoint; the ranks wait for it to be complete. On one process it
    behaves as :class:`EvalHook`.
    """

    def __init__(self, dataloader, start=None, interval=1, by_epoch=True, save_best=None,
                 rule=None, test_fn=None, greater_keys=None, less_keys=None,
                 broadcast_bn_buffer=True, tmpdir=None, gpu_collect=False, out_dir=None,
                 file_client_args=None, **eval_kwargs):
        super().__init__(dataloader, start=start, interval=interval, by_epoch=by_epoch,
                         save_best=save_best, rule=rule,
                         test_fn=multi_gpu_test if test_fn is None else test_fn,
                         greater_keys=greater_keys, less_keys=less_keys, out_dir=out_dir,
                         file_client_args=file_client_args, **eval_kwargs)
        self.broadcast_bn_buffer = broadcast_bn_buffer
        self.tmpdir = tmpdir
        self.gpu_collect = gpu_collect

    def _do_evaluate(self, runner):
        rank, world_size = get_dist_info()
        if world_size == 1:
            return super()._do_evaluate(runner)
        if self.broadcast_bn_buffer:
            _broadcast_bn_buffers(runner.model)
        results = self._test(runner, tmpdir=self.tmpdir, gpu_collect=self.gpu_collect)
        saves = None
        if rank == 0:
            runner.log_buffer.output['eval_iter_num'] = len(self.dataloader)
            key_score = self.evaluate(runner, results)
            if self.save_best and key_score is not None and self._is_better(runner, key_score):
                saves = self._best_name(runner)
        # One small broadcast per evaluation: every rank has the same metrics, and knows
        # whether rank 0 saves a best checkpoint (every rank takes part in a save).
        box = [self.latest_results, saves] if rank == 0 else [None, None]
        dist.broadcast_object_list(box, src=0)
        if rank != 0:
            runner.log_buffer.output['eval_iter_num'] = len(self.dataloader)
            runner.log_buffer.output.update(box[0])
            runner.log_buffer.ready = True
            self._publish(runner, box[0])
        if box[1] is None:
            return
        if rank == 0:
            self._save_ckpt(runner, key_score)
        else:  # the best score stays rank 0's (as in mmcv); this rank joins the save
            runner.run_state.save_at_stage_end(runner, getattr(self, '_stage', None),
                                               self.save_dir, box[1], create_symlink=False)


def _real_folder(folder):
    """The form of ``folder`` two folders are compared in: symlinks resolved, URLs normalized."""
    return storage.normalize(folder) if storage.is_remote(folder) else \
        osp.realpath(storage.local_path(folder))
