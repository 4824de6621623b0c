# The main job: a small CNN on scikit-learn's bundled 8x8 digits (1,797 images, no download).
# `fastrun train configs/digits_cnn.py` trains it on 2 CPU cores in about 5 s (12 epochs).

model = dict(
    type='ImageClassifier',
    backbone=dict(type='SmallCNN', in_channels=1, channels=(32, 64)),  # 8x8 -> 4x4 -> GAP
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', label_smooth_val=0.1),  # mild smoothing helps on 1.2k images
        topk=(1, 5)))

data = dict(
    samples_per_gpu=32,  # 1,257 train images -> 40 iterations per epoch
    workers_per_gpu=0,   # the whole set is in memory: worker processes would only add latency
    train=dict(type='Digits', split='train'),
    val=dict(type='Digits', split='val'),
    test=dict(type='Digits', split='test'))

evaluation = dict(interval=1, metric='accuracy', metric_options={'topk': (1, 5)},
                  save_best='auto')  # keeps best_accuracy_top-1_epoch_N.pth

optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='CosineAnnealing', min_lr=0.0,
                 warmup='linear', warmup_iters=40, warmup_ratio=0.1)  # one epoch of warmup
runner = dict(type='EpochBasedRunner', max_epochs=12)

checkpoint_config = dict(interval=1, max_keep_ckpts=2)  # epoch_N.pth, latest.pth
log_config = dict(interval=10, hooks=[dict(type='TextLoggerHook')])  # text log + <timestamp>.log.json
workflow = [('train', 1)]
seed = 0  # same split, same init, same data order on every run
num_threads = 1  # the ops are tiny: a second intra-op thread only adds sync (and spins on a busy machine)
log_level = 'INFO'
load_from = None
resume_from = None
