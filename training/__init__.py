"""Model adaptation: the seeds' pipeline (tokenizer, CPT, LoRA SFT, Whisper data) as code."""
