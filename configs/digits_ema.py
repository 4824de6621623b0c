# The spec's EMAHook example: an exponential moving average of the weights, used for evaluation.
_base_ = './digits_cnn.py'

# The spec's snippet has interval=100 with the default momentum=0.0002: mmcv weighs each update
# by momentum ** interval (about 0), the average never moves and EMAHook warns. Here each of
# the 240 updates weighs 0.02, so the average follows the last ~50 iterations.
custom_hooks = [
    dict(type='EMAHook', momentum=0.02, interval=1, warm_up=40, priority='HIGH')
]
runner = dict(max_epochs=6)
