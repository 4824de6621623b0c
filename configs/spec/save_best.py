# Spec: keep the weights of the best evaluation (best_accuracy_top-1_epoch_N.pth).
_base_ = '../digits_cnn.py'

evaluation = dict(_delete_=True, interval=1, save_best=True, metric='accuracy', metric_options={'topk': (1, )})
runner = dict(max_epochs=2)
