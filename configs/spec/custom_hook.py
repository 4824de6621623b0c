# Spec, 'Customize self-implemented hooks': MyHook from configs/my_hook.py via custom_imports.
_base_ = '../digits_cnn.py'

custom_imports = dict(imports=['configs.my_hook'], allow_failed_imports=False)  # run from the repository root
custom_hooks = [
    dict(type='MyHook', a=1, b=2, priority='ABOVE_NORMAL')
]
runner = dict(max_epochs=1)
