"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song): 24 actors, 8 emotions.

Obtain: https://zenodo.org/record/1188976 (CC BY-NC-SA 4.0). Download the video archives
Video_Speech_Actor_01.zip ... Video_Speech_Actor_24.zip (and Video_Song_*); Zenodo
publishes an MD5 for every file: pass them so the archives are checked.

    python data_scripts/ravdess.py ~/Downloads/Video_Speech_Actor_*.zip \
        --md5 Video_Speech_Actor_01.zip=<md5 shown on Zenodo> ...
    python data_scripts/ravdess.py ~/Downloads/Video_Speech_Actor_*.zip --checksums md5sums.txt

"calm" becomes neutral; add --option calm=drop to leave it out.
"""

import sys

from fer_kit.datasets.prepare import script_main

if __name__ == "__main__":
    sys.exit(script_main("ravdess", __doc__))
