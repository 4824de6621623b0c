# The spec's alternative to EvalHook: a val epoch after every train epoch computes val losses.
# Parameters do not change during val, and max_epochs counts train epochs only.
_base_ = './digits_cnn.py'

workflow = [('train', 1), ('val', 1)]
runner = dict(max_epochs=4)
