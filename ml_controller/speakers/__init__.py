"""Speakers across meetings: voiceprints and naming a meeting's speakers from enrolled voices."""
