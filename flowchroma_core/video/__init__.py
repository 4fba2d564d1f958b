"""Video in and out: reading films and scans (reader), writing masters (writer), timecode."""
