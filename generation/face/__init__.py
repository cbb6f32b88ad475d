"""Face preparation: detection and landmarks, tracking, cropping, the facial prior."""
