"""Animation: driving a face with a clip, the MEGC sets, memory reuse."""
