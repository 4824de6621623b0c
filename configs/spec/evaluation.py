# Spec, 'Evaluation config': other keys than interval go to dataset.evaluate().
_base_ = '../digits_cnn.py'

evaluation = dict(_delete_=True, interval=1, metric='accuracy', metric_options={'topk': (1, )})
runner = dict(max_epochs=2)
