"""MMI Facial Expression Database: posed expressions, neutral -> apex -> neutral (paper 2.2).

Obtain: request an account at https://mmifacedb.eu/ (EULA: research use, no
redistribution), search the sessions with an emotion label and download them; each
session folder holds the video (S001-001.avi) and session.xml with the emotion metatag
(1 anger ... 6 surprise). No checksums are published; the script prints SHA-256.

    python data_scripts/mmi.py ~/Downloads/mmi-sessions.zip
    python data_scripts/mmi.py data/mmi/Sessions

Sessions without an emotion label are skipped and counted.
"""

import sys

from fer_kit.datasets.prepare import script_main

if __name__ == "__main__":
    sys.exit(script_main("mmi", __doc__))
