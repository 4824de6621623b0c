# The spec's self-implemented hook: defined in configs/my_hook.py, imported by custom_imports.
_base_ = './digits_cnn.py'

custom_imports = dict(imports=['my_hook'], allow_failed_imports=False)  # found next to this file
custom_hooks = [
    dict(type='MyHook', a=1, b=2, priority='ABOVE_NORMAL')
]
runner = dict(max_epochs=2)
