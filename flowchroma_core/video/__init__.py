"""Video in and out: films and scans read as native luma, colorized masters written.

Package map (reading, then writing, then what both use):

* ``reader``: the public entry, ``open_video`` / ``VideoReader`` / ``read_rgb``.
* ``container``: video files: opening, picking the stream, packet index, frame-accurate seeks.
* ``sequence``: image sequences: finding, ordering and reading numbered frame files.
* ``headers``: frame sizes from PNG/DPX/TIFF/JPEG headers, without decoding.
* ``source``: the Source interface, damaged/corrupt frame records, FFmpeg error text.
* ``info``: ``VideoInfo`` / ``AudioStreamInfo`` / ``Frame``, the luma matrix, container fields.
* ``timing``: frame rate, variability and duration from timestamps; rounding times to ticks.
* ``writer``: the public entry for output, ``VideoWriter``: open, write frames, finish atomically.
* ``presets``: codec presets and the default codec of each extension.
* ``destination``: the output plan: path, refusals, pixel format and range; ``check_destination``.
* ``audio``: which sound tracks go where (copied, re-encoded, WAV beside a sequence) and the relay.
* ``planes``: samples between NumPy and PyAV planes: native luma in, output planes out.
* ``colour_tags``: FFmpeg's colour tag numbers and names, read and written.
* ``timecode``: SMPTE timecode, the one parser, and frame positions.
* ``hardware``: NVDEC/NVENC decoders and encoders, probed once; software where absent.
"""
