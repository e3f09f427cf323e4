"""SAVEE (Surrey Audio-Visual Expressed Emotion): 4 male actors, 7 emotions, 480 clips (paper 2.1).

Obtain: register at http://kahlan.eps.surrey.ac.uk/savee/ (free for research; the
licence forbids redistribution) and download the audio-visual clips archive
(AudioVisualClip.zip: DC/, JE/, JK/, KL/ folders of a1.avi ... su15.avi). No checksums
are published; the script prints each archive's SHA-256.

    python data_scripts/savee.py ~/Downloads/AudioVisualClip.zip
    python data_scripts/savee.py data/savee            # already unpacked: index only

Then: fer-kit preprocess data/savee --dataset savee --out cache/savee
"""

import sys

from fer_kit.datasets.prepare import script_main

if __name__ == "__main__":
    sys.exit(script_main("savee", __doc__))
