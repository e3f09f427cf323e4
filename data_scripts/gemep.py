"""GEMEP (Geneva Multimodal Emotion Portrayals): 10 actors, 18 emotions (paper 2.3, 4.2.3).

Obtain: ask the Swiss Center for Affective Sciences, https://www.unige.ch/cisa/gemep
(signed agreement; research use only). The core set's file names start with the actor
number and the emotion code (e.g. 01adm_Ax.avi). The 18 emotions are relabelled to the
kit's classes with the paper's pairs completed by emotion family; see
fer_kit/datasets/gemep.py for the table, and override it with a YAML file:

    python data_scripts/gemep.py ~/Downloads/GEMEP_CS.zip
    python data_scripts/gemep.py data/gemep --option mapping=my_mapping.yaml
"""

import sys

from fer_kit.datasets.prepare import script_main

if __name__ == "__main__":
    sys.exit(script_main("gemep", __doc__))
