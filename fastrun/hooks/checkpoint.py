"""CheckpointHook: save checkpoints every few epochs or iterations, keep the newest few."""
import re
import string

from .. import storage
from ..dist import allreduce_buffers, get_dist_info
from ..hook import Hook
from ..registry import HOOKS


def work_location(runner):
    """Where the runner's work dir is: its URL when it was given one, else its local folder."""
    return getattr(runner, 'work_url', None) or runner.work_dir


def resolve_out_dir(out_dir, work_dir, file_client_args, owner):
    """The folder a hook writes to: ``work_dir``, or ``out_dir/<basename of work_dir>`` (mmcv).

    Either may be an fsspec URL (:mod:`fastrun.storage`). ``file_client_args`` (mmcv's) is
    checked first (:func:`fastrun.storage.check_location`): ``disk`` is the local filesystem;
    a backend without an fsspec equivalent (``petrel``...) raises, saying what to use instead.
    """
    storage.check_location(out_dir, file_client_args, owner)
    if not out_dir:
        if work_dir is None:
            raise ValueError(f'{owner} needs a folder: give the runner a work_dir or the hook '
                             'an out_dir')
        return work_dir
    out_dir = storage.normalize(out_dir)
    if work_dir is not None and out_dir != storage.normalize(work_dir):
        out_dir = storage.join(out_dir, storage.basename(work_dir))
    return out_dir


def _number_pattern(tmpl, number=r'(\d+)'):
    # 'epoch_{}.pth' -> r'epoch_(\d+)\.pth'; None unless the template has exactly one field.
    regex, fields = '', 0
    for literal, field, _, _ in string.Formatter().parse(tmpl):
        regex += re.escape(literal)
        if field is not None:
            regex += number
            fields += 1
    return re.compile(regex) if fields == 1 else None


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Save ``epoch_N.pth`` (``by_epoch``) or ``iter_N.pth`` every ``interval``, and at the end.

    ``interval=-1`` saves only the last one (when ``save_last``). ``out_dir`` defaults to the
    runner's work_dir; given, files go to ``out_dir/<basename of work_dir>`` as in mmcv >= 1.3.16.
    Either may be an fsspec URL (``s3://...``): the files are uploaded in the background, older
    ones deleted only after the new one is complete (:mod:`fastrun.storage`).
    The file of an epoch's (iteration's) end is written once that stage's hooks up to ``LOW``
    priority have run (the evaluation among them: the file holds its result), before the
    loggers and the ``LOWEST`` hooks, which see it (see :mod:`fastrun.state`).
    ``max_keep_ckpts > 0``: once the new file is complete and ``latest.pth`` points to it, the
    older ``epoch_*``/``iter_*`` files present in the folder beyond the newest
    ``max_keep_ckpts`` are deleted (on a URL the upload thread lists and deletes them: training
    never waits for the store) (the one the run resumed from too); files numbered after the
    current one (from an earlier, longer run) and the file ``latest.pth`` points to are left
    alone. ``sync_buffer`` averages buffers over the ranks first. The path of the newest file
    goes to ``runner.meta['hook_msgs']['last_ckpt']``. Other keyword arguments
    (``filename_tmpl``, ``create_symlink``, ``meta``) are those of ``runner.save_checkpoint``.
    Only rank 0 writes (with the RNG states of every rank).

    When a signal stops the run, :meth:`save_on_stop` saves the exact position (mid-epoch:
    ``epoch_N_iter_K.pth``, removed by rotation once epoch N's own checkpoint exists).
    ``before_run`` deletes the temporary files a killed write left behind.
    """

    def __init__(self, interval=-1, by_epoch=True, save_optimizer=True, out_dir=None,
                 max_keep_ckpts=-1, save_last=True, sync_buffer=False, file_client_args=None,
                 **kwargs):
        self.interval = interval
        self.by_epoch = by_epoch
        self.save_optimizer = save_optimizer
        self.out_dir = out_dir
        self.max_keep_ckpts = max_keep_ckpts
        self.save_last = save_last
        self.sync_buffer = sync_buffer
        self.file_client_args = file_client_args
        self.args = kwargs
        if not by_epoch:
            # Bound on the instance so that only an iteration-wise hook sits in the
            # per-iteration dispatch table: an epoch-wise one costs no call per iteration.
            self.after_train_iter = self._after_train_iter

    @property
    def _stage(self):
        return 'after_train_epoch' if self.by_epoch else 'after_train_iter'

    def before_run(self, runner):
        self.save_dir = resolve_out_dir(self.out_dir, work_location(runner), self.file_client_args,
                                        type(self).__name__)
        self._saved_at = None
        runner.logger.info('Checkpoints will be saved to %s', storage.redact(self.save_dir))
        if get_dist_info()[0] == 0:
            storage.check_access(self.save_dir)  # a wrong URL fails now, not at the first save
            _remove_stale_temporaries(self.save_dir, runner.logger)
        runner.run_state.end_stage_saves(runner, self._stage)

    def after_train_epoch(self, runner):
        if self.by_epoch and (self.every_n_epochs(runner, self.interval)
                              or (self.save_last and self.is_last_epoch(runner))):
            self._save(runner, runner.epoch + 1, 'epochs', stage='after_train_epoch')

    def _after_train_iter(self, runner):
        if (self.every_n_iters(runner, self.interval)
                or (self.save_last and self.is_last_iter(runner))):
            self._save(runner, runner.iter + 1, 'iterations', stage='after_train_iter')

    @property
    def filename_tmpl(self):
        """The checkpoint file name with ``{}`` for the epoch or iteration number."""
        return self.args.get('filename_tmpl', 'epoch_{}.pth' if self.by_epoch else 'iter_{}.pth')

    def save_on_stop(self, runner):
        """Save the current position (the runner calls it when a signal stops the run).

        Named as the hook names its files; in the middle of an epoch of a ``by_epoch`` hook,
        ``epoch_N_iter_K.pth`` (K batches of epoch N done). Nothing is written when this hook
        saved this very position already. Returns the path.
        """
        position = runner.position()
        if self.by_epoch:
            filename = runner.stop_checkpoint_name(self.filename_tmpl)
        else:
            filename = self.filename_tmpl.format(position[1])
        path = storage.join(self.save_dir, filename)
        # On a URL the file was queued for upload: asking the store would wait for it.
        if self._saved_at == position and (storage.is_remote(path) or storage.isfile(path)):
            return path
        self._save(runner, position[1], 'iterations', filename)
        return path

    def _save(self, runner, number, unit, filename=None, stage=None):
        """Save now (``stage=None``) or at the end of ``stage``; every rank calls it."""
        if runner.rank == 0:  # every rank calls it; rank 0 writes and says so, once
            runner.logger.info('Saving checkpoint at %d %s', number, unit[:-1] if number == 1 else unit)
        if self.sync_buffer:
            allreduce_buffers(runner.model)  # a collective: every rank, before rank 0 writes
        tmpl = self.filename_tmpl
        filename = filename or tmpl.format(number)
        if runner.meta is None:
            runner.meta = {}
        # Recorded before saving, so the checkpoint itself names the newest file.
        runner.meta.setdefault('hook_msgs', {})['last_ckpt'] = storage.join(self.save_dir, filename)
        rotate = None
        if self.max_keep_ckpts > 0:
            save_dir = self.save_dir

            def rotate():
                if storage.is_remote(save_dir):
                    # Listing and deleting talk to the store: the upload thread does it, after
                    # this checkpoint and its pointer; training goes on meanwhile.
                    storage.in_upload_thread(
                        save_dir, lambda: self._remove_old(runner, tmpl, number, save_dir),
                        'remove the checkpoints beyond max_keep_ckpts from')
                else:
                    self._remove_old(runner, tmpl, number, save_dir)
        runner.run_state.save_at_stage_end(
            runner, stage, self.save_dir, filename, save_optimizer=self.save_optimizer,
            meta=self.args.get('meta'), create_symlink=self.args.get('create_symlink', True),
            pointed=rotate)
        self._saved_at = runner.position()

    def _remove_old(self, runner, tmpl, current, save_dir):
        pattern = _number_pattern(tmpl)
        if pattern is None:
            runner.logger.warning('max_keep_ckpts: cannot find the number in filename_tmpl %r; '
                                  'no checkpoint removed', tmpl)
            return
        # Mid-epoch checkpoints (epoch_N_iter_K.pth, saved on a signal) of epochs up to the
        # current one are superseded by it.
        partial = _number_pattern(tmpl, r'(\d+)_iter_\d+') if self.by_epoch else None
        found, superseded = [], []
        for name in storage.listdir(save_dir):
            m = pattern.fullmatch(name)
            if m and int(m.group(1)) <= current:
                found.append((int(m.group(1)), name))
            m = partial.fullmatch(name) if partial is not None else None
            if m and int(m.group(1)) <= current:
                superseded.append(name)
        found.sort()
        latest = storage.resolve(storage.join(save_dir, storage.LATEST))
        for name in [n for _, n in found[:-self.max_keep_ckpts]] + superseded:
            path = storage.join(save_dir, name)
            if storage.resolve(path) == latest:
                continue  # latest.pth still points there (a hook that does not move it)
            # Gone already is fine (removed by someone else); on a URL, queued after the upload
            # of the new checkpoint, so it runs only once that one is complete.
            storage.remove(path)


#: Temporary files of an interrupted write: ``.<name>.<random>.tmp`` (atomic_save) and
#: ``latest.pth.tmp-link``.
_TEMPORARY = re.compile(r'\..+\.pth\.[A-Za-z0-9_]+\.tmp|latest\.pth\.tmp-link')


def _remove_stale_temporaries(folder, logger):
    """Delete what a process killed while saving left in ``folder`` (never a complete file).

    For a URL, also in its local staging folder (:func:`fastrun.storage.staging_path`).
    """
    folders = [folder] + ([storage.staging_path(folder)] if storage.is_remote(folder) else [])
    for where in folders:
        try:
            names = storage.listdir(where)
        except OSError:  # no such folder yet
            continue
        for name in names:
            if _TEMPORARY.fullmatch(name):
                try:
                    storage.remove(storage.join(where, name))
                    logger.info('removed %s, left by an interrupted checkpoint write', name)
                except OSError:
                    pass
