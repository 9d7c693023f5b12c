"""Speech to text for voice notes.

Two backends behind one ``Transcriber`` protocol: the OpenAI audio API (or a compatible server)
when an API key is configured, and an embedded offline recogniser (pocketsphinx + PyAV, optional
packages) that needs no network. ``create_transcriber`` picks one from the settings.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Protocol

import openai

from integrations.speech.errors import TranscriptionFailed
from integrations.speech.offline import OfflineTranscriber
from integrations.speech.openai_transcriber import OpenAITranscriber, vocabulary_prompt

BACKENDS = ("auto", "openai", "offline", "none")
OPENAI_MAX_RETRIES = 2


class Transcriber(Protocol):
    name: str

    async def transcribe(self, audio: bytes, *, mime_type: str | None = None) -> str:
        """The words spoken in ``audio``, "" if nothing was heard.

        Raises TranscriptionFailed when the audio cannot be decoded or the service fails."""
        ...

    async def close(self) -> None: ...


def available_offline() -> bool:
    """Whether the optional offline speech packages (pocketsphinx, av) are installed."""
    # find_spec rather than import: loading FFmpeg and the models here would cost ~100 MB.
    return all(importlib.util.find_spec(package) is not None for package in ("pocketsphinx", "av"))


def create_transcriber(
    *,
    backend: str,
    openai_api_key: str | None,
    openai_base_url: str | None,
    transcribe_model: str,
    vocabulary: Sequence[str] = (),
) -> Transcriber | None:
    """The transcriber the settings ask for, or None when voice notes cannot be transcribed.

    ``backend``: "auto" (OpenAI when a key is set, else offline when installed, else None),
    "openai", "offline" or "none". ``vocabulary`` holds catalog names and site phrases: the
    offline language model learns them and OpenAI gets them as a spelling hint.
    Raises ValueError for an unknown backend or one that cannot work with these settings.
    """
    choice = backend.strip().lower()
    if choice not in BACKENDS:
        raise ValueError(f"unknown speech backend {backend!r}; expected one of {BACKENDS}")
    if choice == "none":
        return None
    if choice == "openai" and not openai_api_key:
        raise ValueError("speech backend 'openai' needs an OpenAI API key")
    if choice == "offline" and not available_offline():
        raise ValueError("speech backend 'offline' needs the pocketsphinx and av packages")

    if choice == "openai" or (choice == "auto" and openai_api_key):
        client = openai.AsyncOpenAI(
            api_key=openai_api_key,
            base_url=openai_base_url,
            max_retries=OPENAI_MAX_RETRIES,
        )
        return OpenAITranscriber(client, transcribe_model, prompt=vocabulary_prompt(vocabulary))
    if choice == "offline" or available_offline():
        return OfflineTranscriber(vocabulary)
    return None


__all__ = [
    "OfflineTranscriber",
    "OpenAITranscriber",
    "Transcriber",
    "TranscriptionFailed",
    "available_offline",
    "create_transcriber",
]
