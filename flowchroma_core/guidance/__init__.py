"""Restorer colour guidance (issue 10): everything around the network's hint and reference
inputs.

* ``project``: the project file ``FILM.flowchroma.json`` (schema, atomic save, validation);
* ``points``: points as the (a_h, b_h, c) hint channels; ideepcolor-style simulated points;
* ``propagate``: DIS flow carrying hint maps through a shot; the ``FlowCarry`` baseline;
* ``references``: reading, refusing and fitting reference stills; ``--reference`` parsing;
* ``film``: ``Guidance``, answering ``hints`` and ``references`` per window, never across a
  cut; ``film_source``: a film's grey frames, cuts and exported stills for it;
* ``baselines``: no colour / pasted / flow-carried PSNR on colour footage
  (``benchmarks/guidance_baselines.py``).
"""
