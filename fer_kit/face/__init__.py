"""The face, paper section 3.1: find it, place its 68 landmarks, align it, pick its wrinkle regions.

- :mod:`.groups`: the named groups of the 68-point scheme (jaw, brows, nose, eyes, mouth), defined once;
- :mod:`.landmarks`: dlib's face detector and 68-point ERT (eq. 2), on images and tracked through videos;
- :mod:`.ert`: training and measuring your own ERT cascade (Algorithm 1);
- :mod:`.align`: the similarity transform that levels the eyes (3.2.1);
- :mod:`.regions`: the facial regions of Table 2 and the attention heatmap over them;
- :mod:`.wrinkles`: wrinkle energy and the one-channel local feature map (the second input of eq. 3).

Importing this package is cheap; dlib and OpenCV load inside the modules that need them.
"""
