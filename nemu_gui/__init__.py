"""The Qt desktop application: a canvas that edits an engine topology and runs it."""
