"""Empty: no torchvision model is listed (``mmcv.runner.get_torchvision_models`` finds none)."""
