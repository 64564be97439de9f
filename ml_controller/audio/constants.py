"""Audio format every stage works on after decoding."""

SAMPLE_RATE = 16_000
