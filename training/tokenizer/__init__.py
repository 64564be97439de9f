"""Tokenizer adaptation: a Russian BPE merged into the base tokenizer, embeddings grown to match."""
