"""ASR data and Whisper fine-tuning: pseudo-labels, flagged words, manifest, CT2 conversion."""
