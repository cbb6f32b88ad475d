"""MRAA (Motion Representations for Articulated Animation)."""
