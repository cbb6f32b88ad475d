"""Generation: face data -> facial prior -> motion-transfer models -> training -> animation.

This package imports nothing else of FME Studio but the base layer `fme` (errors, options,
outputs, digest); `eval` and `study` import from it
(data records, video I/O and the error family only).
"""
