"""CK+ (Extended Cohn-Kanade): 123 subjects, 593 sequences from neutral to apex, 327 with an emotion label.

Obtain: request access from the University of Pittsburgh (https://www.jeffcohn.net/Resources/,
research agreement). Download extended-cohn-kanade-images.zip and Emotion_labels.zip
(cohn-kanade-images/Sxxx/yyy/*.png and Emotion/Sxxx/yyy/*_emotion.txt). No checksums are
published; the script prints SHA-256.

    python data_scripts/ckplus.py ~/Downloads/extended-cohn-kanade-images.zip ~/Downloads/Emotion_labels.zip

Contempt (code 2) is kept as the label "contempt"; index with
``fer-kit data index data/ckplus --dataset ckplus --option contempt=false`` to drop it.
"""

import sys

from fer_kit.datasets.prepare import script_main

if __name__ == "__main__":
    sys.exit(script_main("ckplus", __doc__))
