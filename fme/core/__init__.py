"""The ground of the project: errors, options, outputs, digest; imports nothing of the project."""
