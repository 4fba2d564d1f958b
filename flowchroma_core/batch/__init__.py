"""``flowchroma batch``: many films, each segmented and resumable, in this process or on Ray.

* ``films``: the command's inputs (films, folders of videos, list files) and each film's
  destination ``OUTDIR/<stem>.<codec extension>``.
* ``work``: one film's export as independent segments over ``pipeline.segments`` and its
  journal (``pipeline.journal``): prepare (lock, plan or resume), record parts, assemble.
* ``local``: the segments run in this process, film after film, with one model session.
* ``cluster``: the segments run as Ray actor tasks (one model per worker, retried when a
  worker dies); Ray is the optional extra ``flowchroma-studio[cluster]``.
* ``report``: what happened to each film, the progress line and the summary table.
"""
