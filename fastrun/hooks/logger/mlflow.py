"""MlflowLoggerHook: the logged values (and the trained model) in an MLflow run."""
import inspect
import os
import os.path as osp
from pathlib import Path

import torch

from ...dist import is_module_wrapper, master_only
from ...optional import require
from ...registry import HOOKS
from .base import LoggerHook

# What this hook set process-wide: mlflow.set_tracking_uri and mlflow.set_experiment also
# export MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_ID, so a later run must tell the user's
# choices from what an earlier run of this hook left behind.
_URIS_SET_HERE = set()
_EXPERIMENT_IDS_SET_HERE = set()


def _sqlite_folder(uri):
    # The folder of a SQLite store's database file; None for other stores and in-memory ones.
    if not uri or not uri.startswith('sqlite:///'):
        return None
    path = uri[len('sqlite:///'):].split('?', 1)[0]
    if not path or path == ':memory:':
        return None
    return osp.dirname(osp.abspath(path))


@HOOKS.register_module()
class MlflowLoggerHook(LoggerHook):
    """Logs metrics (and at the end the model) to an MLflow run (rank 0).

    The tracking URI is ``tracking_uri``, else ``MLFLOW_TRACKING_URI``, else one the user set
    with ``mlflow.set_tracking_uri``, else ``sqlite:///<work_dir>/mlflow.db`` (MLflow's plain file
    store is refused by recent versions; SQLite needs the full ``mlflow`` package).
    ``exp_name`` selects the experiment (created if missing); without it, ``MLFLOW_EXPERIMENT_NAME``
    or ``MLFLOW_EXPERIMENT_ID``, else the name of ``work_dir`` on the default store and
    ``Default`` elsewhere. New experiments of a SQLite store keep their artifacts in
    ``mlruns/`` next to the database, not in the current directory.

    The experiment is made current with ``mlflow.set_experiment(name)``, as mmcv calls it.
    A run is started unless one is active (then that one is used and left open); ``tags`` and
    ``params`` are set on it, each log is ``mlflow.log_metrics(tags, step=runner.iter + 1)``, and
    after the run the model is logged as ``models`` (``log_model``; pickled, as mmcv did) and the
    run ended. ``hook.mlflow`` and ``hook.mlflow_pytorch`` are the modules, as in mmcv. Needs
    ``mlflow`` (``pip install fastrun[mlflow]``), checked when the hook is built.
    """

    def __init__(self, exp_name=None, tags=None, params=None, log_model=True, interval=10,
                 ignore_last=True, reset_flag=False, by_epoch=True, tracking_uri=None):
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.mlflow = require('mlflow', 'mlflow')
        self._mlflow_pytorch = None
        self.exp_name = exp_name
        self.tags = tags
        self.params = params
        self.log_model = log_model
        self.tracking_uri = tracking_uri
        self._logging = False     # between before_run and the end of the run
        self._own_run_id = None   # the run this hook started, and so ends
        if log_model:
            self.mlflow_pytorch  # noqa: B018 - a missing mlflow.pytorch fails when the hook is built

    @property
    def mlflow_pytorch(self):
        """The ``mlflow.pytorch`` module (imported on first use: it takes seconds to import)."""
        if self._mlflow_pytorch is None:
            self._mlflow_pytorch = require('mlflow.pytorch', 'mlflow')
        return self._mlflow_pytorch

    def _choose_tracking_uri(self, runner):
        """(uri, whether it is the work_dir default)."""
        mlflow = self.mlflow
        if self.tracking_uri is not None:
            return self.tracking_uri, False
        # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI: either way, a URI this hook
        # set for an earlier run is not the user's choice.
        current = os.environ.get('MLFLOW_TRACKING_URI') or mlflow.get_tracking_uri()
        is_set = (bool(os.environ.get('MLFLOW_TRACKING_URI'))
                  or getattr(mlflow, 'is_tracking_uri_set', lambda: False)())
        if is_set and current not in _URIS_SET_HERE:
            return current, False
        if runner.work_dir is None:
            return current, False
        return 'sqlite:///' + osp.join(runner.work_dir, 'mlflow.db'), True

    def _set_experiment(self, runner, uri, default_store):
        """Make the experiment current; its id."""
        name = self.exp_name or os.environ.get('MLFLOW_EXPERIMENT_NAME')
        if name is None:
            env_id = os.environ.get('MLFLOW_EXPERIMENT_ID')
            if env_id and env_id not in _EXPERIMENT_IDS_SET_HERE:
                # chosen by the user
                return self.mlflow.set_experiment(experiment_id=env_id).experiment_id
            # On the default store, the 'Default' experiment a fresh database creates would
            # put artifacts in the current folder.
            name = osp.basename(runner.work_dir) if default_store else 'Default'
        client = self.mlflow.tracking.MlflowClient(uri)
        if client.get_experiment_by_name(name) is None:
            # Created here, not by set_experiment, to keep its artifacts next to the database.
            folder = _sqlite_folder(uri)
            location = Path(folder, 'mlruns').as_uri() if folder is not None else None
            client.create_experiment(name, artifact_location=location)
        return self.mlflow.set_experiment(name).experiment_id

    @master_only
    def before_run(self, runner):
        super().before_run(runner)
        self.flush_and_close(runner)  # a run an earlier, crashed runner.run left open
        mlflow = self.mlflow
        uri, default_store = self._choose_tracking_uri(runner)
        mlflow.set_tracking_uri(uri)
        _URIS_SET_HERE.add(uri)
        _EXPERIMENT_IDS_SET_HERE.add(self._set_experiment(runner, uri, default_store))
        if mlflow.active_run() is None:
            self._own_run_id = mlflow.start_run().info.run_id
        self._logging = True
        if self.tags is not None:
            mlflow.set_tags(self.tags)
        if self.params is not None:
            mlflow.log_params(self.params)

    @master_only
    def log(self, runner):
        if not self._logging:
            return  # the fluent API would silently start a new run
        tags = self.get_loggable_tags(runner)
        if tags:
            self.mlflow.log_metrics(tags, step=self.get_iter(runner))

    def _log_model(self, runner):
        log_model = self.mlflow_pytorch.log_model
        model = runner.model.module if is_module_wrapper(runner.model) else runner.model
        params = inspect.signature(log_model).parameters
        # Fixed requirements: inferring them imports and inspects packages (slow).
        requirements = [f'torch=={torch.__version__}']
        if 'name' not in params:  # mlflow 2 and earlier: mmcv's call
            log_model(model, 'models', pip_requirements=requirements)
            return
        # mlflow 3 names the model by ``name`` (artifact_path is deprecated); its newer 'pt2'
        # format traces the model and needs an input example.
        kwargs = dict(name='models', pip_requirements=requirements)
        if 'serialization_format' in params:
            kwargs['serialization_format'] = 'pickle'
        log_model(model, **kwargs)

    def _end(self, status):
        self._logging = False
        run_id, self._own_run_id = self._own_run_id, None
        if run_id is None:
            return
        active = self.mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            self.mlflow.end_run(status=status)
        else:  # no longer the active run (user code switched runs): end it by id
            self.mlflow.tracking.MlflowClient().set_terminated(run_id, status=status)

    def flush_and_close(self, runner):
        """End the run this hook started, with status FAILED (``after_run`` ends it FINISHED)."""
        self._end('FAILED')

    @master_only
    def after_run(self, runner):
        if not self._logging:
            return
        status = 'FAILED'
        try:
            if self.log_model:
                self._log_model(runner)
            status = 'FINISHED'
        finally:
            self._end(status)
