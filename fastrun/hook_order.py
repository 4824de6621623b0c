"""Hook order: the one place that decides where a hook runs among the others.

Three things decide it, all here:

1. **The priority of each hook the runtime registers itself** (:data:`DEFAULT_PRIORITIES`),
   by the role the hook plays: the runtime configs (``lr_config``, ``optimizer_config``...),
   what ``fastrun train`` and the builder add (evaluation, the invalid-loss check, the
   progress bar) and what a run adds while it runs (the distributed stop check). A hook the
   user registers takes the priority given, or :data:`REGISTER_DEFAULT` (``NORMAL``, as mmcv:
   ``runner.register_hook(StepLrUpdaterHook(step=[1]))`` registers at NORMAL, not at the
   VERY_HIGH that ``lr_config`` uses).
2. **The insertion rule** (:func:`insert_position`): a smaller priority runs earlier; among
   equal priorities, the hook registered first runs first. The order of registration
   (:data:`REGISTRATION_SEQUENCE`) therefore settles ties: ``IterTimerHook`` before
   ``EvalHook`` (both ``LOW``), as in mmcls.
3. **Where the checkpoint writer goes** (:func:`writer_position`): the run state's writer of
   an epoch's (iteration's) checkpoints joins that stage's table right before the first hook
   of priority :data:`CHECKPOINT_WRITER_BEFORE` (``VERY_LOW``) or later: the checkpoint holds
   what every hook up to ``LOW`` did at that stage (the evaluation, the best score), and the
   loggers and ``LOWEST`` hooks see the file written.

``fastrun hooks CONFIG`` prints the resulting order of a config, stage by stage.
"""
from .priority import Priority, get_priority

__all__ = ['DEFAULT_PRIORITIES', 'REGISTER_DEFAULT', 'REGISTRATION_SEQUENCE',
           'CHECKPOINT_WRITER_BEFORE', 'priority_of', 'insert_position', 'writer_position',
           'right_after']

#: The priority of every hook the runtime registers itself, by role.
DEFAULT_PRIORITIES = {
    'lr': Priority.VERY_HIGH,  # lr_config -> <Policy>LrUpdaterHook
    'momentum': Priority.HIGH,  # momentum_config -> <Policy>MomentumUpdaterHook
    'optimizer': Priority.ABOVE_NORMAL,  # optimizer_config / fp16 -> OptimizerHook & variants
    'checkpoint': Priority.NORMAL,  # checkpoint_config -> CheckpointHook
    'timer': Priority.LOW,  # IterTimerHook
    'profiler': Priority.NORMAL,  # register_profiler_hook -> ProfilerHook
    'logger': Priority.VERY_LOW,  # log_config.hooks -> TextLoggerHook, ...
    'custom': Priority.NORMAL,  # custom_hooks entries without a priority
    'dist_sampler_seed': Priority.NORMAL,  # builder: DistSamplerSeedHook (distributed, epochs)
    'eval': Priority.LOW,  # builder: EvalHook / DistEvalHook, after IterTimerHook
    'invalid_loss': Priority.NORMAL,  # builder: CheckInvalidLossHook unless the config has one
    'progress': Priority.LOWEST,  # fastrun train: ProgressBarHook, after every logger
    'stop_sync': Priority.LOWEST,  # a distributed run: the check whether a rank got a signal
}

#: ``runner.register_hook(hook)`` without a priority (mmcv 1.x).
REGISTER_DEFAULT = Priority.NORMAL

#: The order the runtime registers its hooks in (what settles ties), with who does it.
REGISTRATION_SEQUENCE = (
    ('lr', 'Runner.register_training_hooks'),
    ('momentum', 'Runner.register_training_hooks'),
    ('optimizer', 'Runner.register_training_hooks'),
    ('checkpoint', 'Runner.register_training_hooks'),
    ('timer', 'Runner.register_training_hooks'),
    ('logger', 'Runner.register_training_hooks'),
    ('custom', 'Runner.register_training_hooks (custom_hooks)'),
    ('progress', 'fastrun train (the last of custom_hooks, when stderr is a terminal)'),
    ('dist_sampler_seed', 'fastrun.builder.build_runner_from_cfg'),
    ('eval', 'fastrun.builder.build_runner_from_cfg'),
    ('invalid_loss', 'fastrun.builder.build_runner_from_cfg'),
    ('stop_sync', 'Runner.run (fastrun.signals.Preemption), while it runs'),
    ('profiler', 'Runner.register_profiler_hook (when called)'),
)

#: The run state's checkpoint writer runs before the first hook of this priority or later.
CHECKPOINT_WRITER_BEFORE = Priority.VERY_LOW


def priority_of(role):
    """The priority name (``'VERY_HIGH'``...) of the hook playing ``role`` (a
    :data:`DEFAULT_PRIORITIES` key): what registration paths pass to ``register_hook``."""
    return DEFAULT_PRIORITIES[role].name


def insert_position(priorities, priority):
    """Where a hook of ``priority`` goes in a list of hooks whose priorities are ``priorities``
    (in call order): after every hook of a smaller or equal priority (stable ties)."""
    priority = get_priority(priority)
    pos = len(priorities)
    while pos > 0 and priorities[pos - 1] > priority:
        pos -= 1
    return pos


def writer_position(priorities):
    """Where the checkpoint writer goes in a stage's table whose hooks have ``priorities``
    (in call order): before the first of :data:`CHECKPOINT_WRITER_BEFORE` or later."""
    return next((i for i, p in enumerate(priorities) if p >= CHECKPOINT_WRITER_BEFORE),
                len(priorities))


def right_after(priorities, default):
    """The priority that puts a hook registered now right after the hooks of ``priorities``
    (their largest, the tie going to the later registration), or ``default`` when there are
    none. CheckInvalidLossHook's skip check goes right after the optimizer hook(s) so."""
    return max(priorities, default=get_priority(default))

