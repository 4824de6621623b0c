# Spec, 'Customize Workflow': a val epoch (losses on the val set) after each train epoch.
_base_ = '../digits_cnn.py'

workflow = [('train', 1), ('val', 1)]
runner = dict(max_epochs=2)
