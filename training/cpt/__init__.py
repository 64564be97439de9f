"""Continual pretraining: packed causal-LM training with a loss-spike guard (`minuta-train cpt`)."""
