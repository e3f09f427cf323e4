"""From videos to clips, paper 4.2: read and sample a video, preprocess it, cache the results.

- :mod:`.video`: reading videos, frame folders and images; choosing a clip's 16 frames;
- :mod:`.clip`: the :class:`~fer_kit.clips.clip.Clip` record every video becomes (faces + local maps);
- :mod:`.preprocess`: one video to one Clip (landmarks, alignment, local feature maps);
- :mod:`.cache`: a whole dataset index preprocessed once, in parallel and resumably, on disk.
"""
