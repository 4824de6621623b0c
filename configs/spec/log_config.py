# Spec, 'Log config': text and TensorBoard loggers sharing one interval.
_base_ = '../digits_cnn.py'

log_config = dict(
    interval=50,
    hooks=[
        dict(type='TextLoggerHook'),
        dict(type='TensorboardLoggerHook')  # writes <work_dir>/tf_logs
    ])
runner = dict(max_epochs=2)
