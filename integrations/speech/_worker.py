"""Code that runs inside the offline transcriber's worker process.

pocketsphinx holds the GIL for the whole utterance (about 0.3 s), so decoding and recognition
live in a separate process. The heavy imports happen here, lazily, so importing
``integrations.speech`` stays cheap and works without the optional speech packages.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from integrations.speech.errors import TranscriptionFailed
from integrations.speech.vocabulary import (
    distinct_words,
    language_model_sentences,
    spelled_code_phones,
)

SAMPLE_RATE = 16_000
_BYTES_PER_SAMPLE = 2  # s16 mono
# Less voiced audio than this is treated as "nothing heard": without the check the recogniser
# turns silence into a stray word.
MIN_SPEECH_SECONDS = 0.25

# The worker's recogniser, created once by ``init_worker`` when the process starts.
_decoder: Any = None


def init_worker(vocabulary: Sequence[str]) -> None:
    """Process-pool initializer: load the acoustic model and the domain language model."""
    global _decoder
    _decoder = build_decoder(vocabulary)


def build_decoder(vocabulary: Sequence[str]) -> Any:
    """A pocketsphinx decoder limited to the maintenance vocabulary.

    The dictionary holds only the language model's words: with the full 135k-word CMU
    dictionary, setting up the search takes about 4 s instead of 30 ms."""
    from pocketsphinx import Config, Decoder
    from pocketsphinx.lm import ArpaBoLM

    sentences = language_model_sentences(vocabulary)
    words = distinct_words(sentences)
    pronunciations = _dictionary_entries(Config()["dict"], words)
    unpronounceable: set[str] = set()
    for word in words - pronunciations.keys():
        phones = spelled_code_phones(word)
        if phones is None:
            unpronounceable.add(word)  # not in the dictionary and too long to spell out
        else:
            pronunciations[word] = [phones]
    if unpronounceable:
        sentences = [
            " ".join(word for word in sentence.split() if word not in unpronounceable)
            for sentence in sentences
        ]

    model = ArpaBoLM(text="\n".join(sentences), add_start=True, case="lower")
    model.compute()
    # pocketsphinx loads models from files only; they are not needed once loaded.
    with tempfile.TemporaryDirectory(prefix="rivet-speech-") as directory:
        dictionary_path = os.path.join(directory, "maintenance.dict")
        model_path = os.path.join(directory, "maintenance.arpa")
        with open(dictionary_path, "w", encoding="utf-8") as dictionary:
            for word, variants in sorted(pronunciations.items()):
                for index, phones in enumerate(variants):
                    label = word if index == 0 else f"{word}({index + 1})"
                    dictionary.write(f"{label} {phones}\n")
        model.write_file(model_path)
        return Decoder(
            samprate=SAMPLE_RATE,
            loglevel="FATAL",
            dict=dictionary_path,
            lm=model_path,
            # Digital silence (exact zeros, common in MP3/WAV) wrecks the noise estimate: word
            # error rate 22 % → 60 % without dither. A fixed seed keeps results reproducible.
            dither=True,
            seed=1,
        )


def _dictionary_entries(dictionary_path: str, words: set[str]) -> dict[str, list[str]]:
    """Every pronunciation of ``words`` in a CMU-format dictionary ("word(2) phones" lines)."""
    entries: dict[str, list[str]] = {}
    with open(dictionary_path, encoding="utf-8") as dictionary:
        for line in dictionary:
            label, _, phones = line.strip().partition(" ")
            word = label.split("(", 1)[0]
            if word in words and phones:
                entries.setdefault(word, []).append(phones.strip())
    return entries


def decode_to_pcm(audio: bytes, *, max_seconds: float) -> bytes:
    """Any container/codec FFmpeg knows (OGG/Opus, MP3, M4A, WAV) → 16 kHz mono s16le PCM."""
    import av

    max_bytes = int(max_seconds * SAMPLE_RATE) * _BYTES_PER_SAMPLE
    pcm = bytearray()
    try:
        with av.open(io.BytesIO(audio), mode="r") as container:
            if not container.streams.audio:
                raise TranscriptionFailed("the file has no audio track")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(container.streams.audio[0]):
                for resampled in resampler.resample(frame):
                    pcm += bytes(resampled.planes[0])[: resampled.samples * _BYTES_PER_SAMPLE]
                if len(pcm) > max_bytes:
                    raise TranscriptionFailed(f"voice note is longer than {max_seconds:.0f} s")
            for resampled in resampler.resample(None):  # flush the resampler's buffer
                pcm += bytes(resampled.planes[0])[: resampled.samples * _BYTES_PER_SAMPLE]
    except (av.FFmpegError, EOFError, ValueError, OSError) as error:
        raise TranscriptionFailed(f"could not decode the audio ({type(error).__name__})") from None
    return bytes(pcm)


def speech_seconds(pcm: bytes) -> float:
    """How much of the audio the voice-activity detector classes as speech."""
    from pocketsphinx import Vad

    vad = Vad(mode=Vad.LOOSE, sample_rate=SAMPLE_RATE)
    frame_bytes: int = vad.frame_bytes
    voiced_frames = sum(
        vad.is_speech(pcm[start : start + frame_bytes])
        for start in range(0, len(pcm) - frame_bytes + 1, frame_bytes)
    )
    return float(voiced_frames * vad.frame_length)


def recognise(pcm: bytes) -> str:
    if _decoder is None:
        raise TranscriptionFailed("offline recogniser is not initialised")
    if speech_seconds(pcm) < MIN_SPEECH_SECONDS:
        return ""
    _decoder.start_utt()
    _decoder.process_raw(pcm, full_utt=True)
    _decoder.end_utt()
    hypothesis = _decoder.hyp()
    return hypothesis.hypstr.strip() if hypothesis is not None else ""


def ready() -> bool:
    """A no-op job: running it proves the worker started and its initializer succeeded."""
    return True


def transcribe(audio: bytes, max_seconds: float) -> str:
    """The job submitted to the pool: raw recogniser words, or TranscriptionFailed."""
    return recognise(decode_to_pcm(audio, max_seconds=max_seconds))
