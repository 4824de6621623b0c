# The spec's EMAHook example: an exponential moving average of the weights, used for evaluation.
_base_ = './digits_cnn.py'

custom_hooks = [
    dict(type='EMAHook', momentum=0.001, interval=1, warm_up=40, priority='HIGH')  # spec uses interval=100
]
runner = dict(max_epochs=6)
