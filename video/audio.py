"""Audio beside the video: read the part under the loaded frames, write it in step with the frames.

Audio is a core AUDIO dict: ``{"waveform": (1, C, S) float32, "sample_rate": int}``.
"""
from __future__ import annotations

import logging
from fractions import Fraction
from typing import Optional

import av
import numpy as np
import torch

from .containers import open_input, video_stream
from .webp import is_animated_webp

logger = logging.getLogger(__name__)


def load_audio(path: str, start_time: Fraction, end_time: Fraction) -> Optional[dict]:
    """The first audio stream between two video times, as a core AUDIO dict.

    Times are seconds from the first video frame. Returns ``{"waveform": (1, C, S)
    float32, "sample_rate": int}``, or None when the file has no audio. Samples
    before the audio starts are zeros, so the audio stays aligned with the frames.
    """
    if is_animated_webp(path):
        return None
    with open_input(path) as container:
        if not container.streams.audio:
            return None
        video = video_stream(container, path)
        origin = _first_video_time(container, video)
        audio = container.streams.audio[0]
        sample_rate = audio.codec_context.sample_rate or audio.rate
        first = int(round((origin + start_time) * sample_rate))
        wanted = int(round((end_time - start_time) * sample_rate))
        container.seek(0)
        chunks, audio_start = _decode_audio(container, audio, sample_rate, path, first + wanted)
    if audio_start is None:
        return None
    waveform = np.concatenate(chunks, axis=1) if chunks else np.zeros((1, 0), np.float32)
    offset = first - audio_start
    if offset >= 0:
        waveform = waveform[:, offset:offset + wanted]
    else:
        waveform = np.concatenate([np.zeros((waveform.shape[0], -offset), np.float32), waveform], axis=1)[:, :wanted]
    if waveform.shape[1] < wanted:
        waveform = np.pad(waveform, ((0, 0), (0, wanted - waveform.shape[1])))
    return {"waveform": torch.from_numpy(np.ascontiguousarray(waveform)).unsqueeze(0), "sample_rate": int(sample_rate)}


def _first_video_time(container, stream) -> Fraction:
    for packet in container.demux(stream):
        for frame in packet.decode():
            if frame.pts is not None:
                return frame.pts * Fraction(stream.time_base)
            return Fraction(0)
    return Fraction(0)


def _decode_audio(container, stream, sample_rate: int, path: str, stop_sample: int):
    """Decoded audio from the start up to ``stop_sample`` (in samples from time 0), as fltp chunks.

    Returns ``(chunks, first_sample)``. Decoding stops once a frame starts at or after
    ``stop_sample``, so a file damaged after the loaded frames (a truncated download) still
    gives its audio. A decoding error after some audio was read keeps that audio (the rest
    is padded with silence by the caller) and logs a warning naming the file and the time;
    an error before any audio is a ValueError naming the file.
    """
    resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=sample_rate)
    chunks: list[np.ndarray] = []
    audio_start = None
    read = 0  # samples kept so far
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                start = int(round(frame.pts * Fraction(stream.time_base) * sample_rate)) if frame.pts is not None else None
                if audio_start is None:
                    audio_start = start if start is not None else 0
                if (start if start is not None else audio_start + read) >= stop_sample:
                    return _flushed(chunks, resampler), audio_start
                for converted in resampler.resample(frame):
                    chunks.append(converted.to_ndarray().astype(np.float32, copy=False))
                    read += converted.samples
    except av.FFmpegError as exc:
        if audio_start is None:
            raise ValueError(f"{path}: cannot decode the audio stream: {exc}") from exc
        seconds = (audio_start + read) / sample_rate
        logger.warning("%s: the audio stream cannot be decoded after %.3f s (%s); the rest is silence",
                       path, seconds, exc)
    return _flushed(chunks, resampler), audio_start


def _flushed(chunks: list, resampler) -> list:
    for converted in resampler.resample(None):
        chunks.append(converted.to_ndarray().astype(np.float32, copy=False))
    return chunks


class AudioMuxer:
    """Encodes a core AUDIO dict alongside the video, cut or padded to ``duration``.

    ``codec``: the audio encoder's name (e.g. ``aac``). Audio is written in step with the
    frames so the muxer interleaves the streams without buffering the whole video.
    """

    def __init__(self, container, codec: str, audio: dict, duration: Fraction):
        waveform = audio["waveform"]
        if waveform.ndim == 3:
            waveform = waveform[0]
        if waveform.ndim != 2 or waveform.shape[0] == 0:
            raise ValueError(f"audio waveform must be (1, channels, samples), got {tuple(audio['waveform'].shape)}")
        self.sample_rate = int(audio["sample_rate"])
        channels = min(int(waveform.shape[0]), 2)
        self.waveform = waveform[:channels].detach().to("cpu", torch.float32).contiguous().numpy()
        self.layout = "mono" if channels == 1 else "stereo"
        self.total = int(round(duration * self.sample_rate))  # video length in samples: pad or cut to it
        encoder = av.codec.Codec(codec, "w")
        rates = encoder.audio_rates
        out_rate = self.sample_rate if not rates or self.sample_rate in rates else max(rates)
        self.stream = container.add_stream(codec, rate=out_rate)
        self.stream.layout = self.layout
        self.container = container
        self.resampler = av.AudioResampler(format=(encoder.audio_formats or [])[0].name, layout=self.layout, rate=out_rate)
        self.written = 0

    def write_until(self, t: Fraction) -> None:
        end = min(self.total, int(round(t * self.sample_rate)))
        while self.written < end:
            n = min(4096, end - self.written)
            block = self.waveform[:, self.written:self.written + n]
            if block.shape[1] < n:  # past the end of the given audio: silence
                block = np.pad(block, ((0, 0), (0, n - block.shape[1])))
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout=self.layout)
            frame.sample_rate = self.sample_rate
            frame.pts = self.written
            frame.time_base = Fraction(1, self.sample_rate)
            self.written += n
            for converted in self.resampler.resample(frame):
                for packet in self.stream.encode(converted):
                    self.container.mux(packet)

    def finish(self) -> None:
        self.write_until(Fraction(self.total, self.sample_rate))
        for converted in self.resampler.resample(None):
            for packet in self.stream.encode(converted):
                self.container.mux(packet)
        for packet in self.stream.encode(None):
            self.container.mux(packet)
