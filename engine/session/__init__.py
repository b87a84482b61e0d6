"""Sessions: a directory per running (or saved) network, and the object that runs it."""
