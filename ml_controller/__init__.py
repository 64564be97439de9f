"""Minuta's ML side: the pipeline from audio to transcript, speakers, topics and minutes."""

__version__ = "0.1.0"
