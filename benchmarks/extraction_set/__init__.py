"""The labelled set for minutes extraction (issue 20): see ``dataset``."""
