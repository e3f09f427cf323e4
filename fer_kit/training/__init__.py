"""Training the networks, paper 3.2.3 and 4.1: input pipeline, recipes, the fit loop, run folders.

- :mod:`.data`: the ``tf.data`` input from the clip cache, with the augmentation of paper 2.4;
- :mod:`.recipes`: named optimiser settings (the paper's SGD schedule, the kit's Adam default);
- :mod:`.config`: :class:`~fer_kit.training.config.TrainConfig`, everything that defines a run;
- :mod:`.split`: the train / validation / test split by subject;
- :mod:`.optim`, :mod:`.devices`, :mod:`.callbacks`: the optimiser and eq. 8's loss, strategy and precision, checkpoints;
- :mod:`.train`: :func:`~fer_kit.training.train.train`, the fit loop;
- :mod:`.runfolder`: the run folder's files (config, split, history, model);
- :mod:`.runs`: opening a trained run folder or a bare ``.keras`` file, predicting with it;
- :mod:`.ensemble`: several runs that differ only in their seed, averaged into one model (our option).
"""
