"""From a film to colorized frames: the options of a run (options), framing, shot cuts
(shots), the sliding-window walk (windows), the stateless colorizer, and export."""
