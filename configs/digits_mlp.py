# An MLP on the same digits: the flat baseline next to digits_cnn.py.
_base_ = './digits_cnn.py'

model = dict(
    backbone=dict(_delete_=True, type='MLP', in_channels=64, hidden_channels=(128, 64)),  # 8x8 flattened
    head=dict(in_channels=64))
optimizer = dict(lr=0.05)  # an MLP without normalisation wants a smaller step
runner = dict(max_epochs=10)
