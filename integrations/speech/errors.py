class TranscriptionFailed(Exception):
    """Speech could not be turned into text; the message is safe to log (no secrets, no audio)."""
