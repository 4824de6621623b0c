# Spec, 'CheckpointHook': save every epoch; max_keep_ckpts / save_optimizer as documented.
_base_ = '../digits_cnn.py'

checkpoint_config = dict(interval=1, max_keep_ckpts=1, save_optimizer=True)
runner = dict(max_epochs=2)
