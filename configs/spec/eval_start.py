# Spec: skip evaluation before epoch 'start' (the spec uses 200 for long schedules).
_base_ = '../digits_cnn.py'

evaluation = dict(_delete_=True, interval=1, start=2, metric='accuracy', metric_options={'topk': (1, )})
runner = dict(max_epochs=3)
