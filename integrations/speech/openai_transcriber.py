"""Transcription through the OpenAI audio API (or an OpenAI-compatible server)."""

from __future__ import annotations

from collections.abc import Sequence

import openai

from integrations.speech.errors import TranscriptionFailed

DEFAULT_TIMEOUT_SECONDS = 60.0
# Whisper reads only the last ~224 tokens of a prompt; a longer hint buys nothing.
MAX_PROMPT_CHARS = 600

_OGG_UPLOAD = ("voice.ogg", "audio/ogg")
# The API picks the decoder from the file extension, and rejects Telegram's ".oga" voice-note
# name, so every upload gets a name the API accepts. Unknown types are sent as OGG, the format
# of Telegram voice notes.
_UPLOAD_BY_MIME_TYPE = {
    "audio/ogg": _OGG_UPLOAD,
    "audio/opus": _OGG_UPLOAD,
    "audio/mpeg": ("voice.mp3", "audio/mpeg"),
    "audio/mp3": ("voice.mp3", "audio/mpeg"),
    "audio/mp4": ("voice.m4a", "audio/mp4"),
    "audio/m4a": ("voice.m4a", "audio/mp4"),
    "audio/x-m4a": ("voice.m4a", "audio/mp4"),
    "audio/aac": ("voice.m4a", "audio/mp4"),
    "audio/wav": ("voice.wav", "audio/wav"),
    "audio/x-wav": ("voice.wav", "audio/wav"),
    "audio/webm": ("voice.webm", "audio/webm"),
    "video/mp4": ("voice.mp4", "video/mp4"),
}


def upload_name(mime_type: str | None) -> tuple[str, str]:
    """(file name, content type) to upload audio of ``mime_type`` under."""
    if mime_type is None:
        return _OGG_UPLOAD
    return _UPLOAD_BY_MIME_TYPE.get(mime_type.split(";", 1)[0].strip().lower(), _OGG_UPLOAD)


def vocabulary_prompt(vocabulary: Sequence[str]) -> str | None:
    """A spelling hint listing catalog names, so "P-003" comes back as written in the CMMS."""
    prompt = ""
    for term in dict.fromkeys(term.strip() for term in vocabulary if term.strip()):
        candidate = f"{prompt}, {term}" if prompt else term
        if len(candidate) > MAX_PROMPT_CHARS:
            break
        prompt = candidate
    return prompt or None


class OpenAITranscriber:
    """Sends the audio to ``/v1/audio/transcriptions``; close() closes the client."""

    name = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        *,
        prompt: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._client = client
        self._model = model
        self._prompt = prompt
        self._timeout = timeout

    async def transcribe(self, audio: bytes, *, mime_type: str | None = None) -> str:
        if not audio:
            return ""
        file_name, content_type = upload_name(mime_type)
        try:
            # The client's own retry policy (max_retries) covers 429, 5xx and dropped connections.
            transcription = await self._client.audio.transcriptions.create(
                model=self._model,
                file=(file_name, audio, content_type),
                prompt=self._prompt if self._prompt is not None else openai.omit,
                timeout=self._timeout,
            )
        except openai.APIStatusError as error:
            # Only the status: error bodies can echo request details (e.g. a masked API key).
            raise TranscriptionFailed(
                f"OpenAI transcription failed: HTTP {error.status_code}"
            ) from None
        except openai.APITimeoutError:
            raise TranscriptionFailed(
                f"OpenAI transcription timed out after {self._timeout:.0f} s"
            ) from None
        except openai.APIConnectionError:
            raise TranscriptionFailed("OpenAI transcription failed: cannot connect") from None
        except openai.OpenAIError as error:
            raise TranscriptionFailed(
                f"OpenAI transcription failed: {type(error).__name__}"
            ) from None
        return transcription.text.strip()

    async def close(self) -> None:
        await self._client.close()
