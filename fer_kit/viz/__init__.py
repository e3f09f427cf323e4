"""Pictures: confusion matrices and curves, the face pipeline drawn stage by stage, the landmark explorer.

- :mod:`.plots`: confusion matrices (paper Figures 7-9) and training curves (Figure 6);
- :mod:`.drawing`: landmarks, regions, attention and local maps drawn on a face;
- :mod:`.grid`: :func:`~fer_kit.viz.grid.show_images`, images side by side with titles;
- :mod:`.sheet`: contact sheets of synthetic clips, one row per emotion;
- :mod:`.widgets`: the ipywidgets landmark explorer.
"""
