"""Models as scikit-learn estimators on images.

:mod:`.torch_adapters` wraps a torch or Hugging Face image model
(``TorchImageClassifier``, ``TorchImageRegressor``; torch is imported on first
use), :mod:`.image_transforms` holds the reshaping steps ``ChannelsFirst`` and
``FlattenImages``, and :mod:`.bottleneck` the paper's concept-bottleneck
models. Nothing is imported here, so that ``import sklearn_depict.models``
never imports torch.
"""
