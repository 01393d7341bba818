"""Code for readers to copy, exactly as the grid runs it (each file is self-contained)."""
