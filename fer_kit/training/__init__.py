"""Training the networks, paper 3.2.3 and 4.1: input pipeline, recipes, the fit loop, run folders.

- :mod:`.data`: the ``tf.data`` input from the clip cache, with the augmentation of paper 2.4;
- :mod:`.recipes`: named optimiser settings (the paper's SGD schedule, the kit's Adam default);
- :mod:`.train`: :class:`~fer_kit.training.train.TrainConfig` and :func:`~fer_kit.training.train.train`;
- :mod:`.runs`: opening a trained run folder or a bare ``.keras`` file, predicting with it.
"""
