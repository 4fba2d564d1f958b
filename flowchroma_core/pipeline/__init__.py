"""From a film to colorized frames: framing, shot cuts (shots), sliding windows, the
colorizer, and export."""
