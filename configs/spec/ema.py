# Spec, 'Use implemented hooks': EMAHook every 100 iterations at HIGH priority.
_base_ = '../digits_cnn.py'

custom_hooks = [
    dict(type='EMAHook', interval=100, priority='HIGH')
]
runner = dict(max_epochs=3)
