"""Docker Engine log streams: the multiplexed frame format of ``GET /containers/{id}/logs``.

Hand-written because it is eight bytes of header per frame and no maintained Python library parses it
without also bringing a whole (synchronous) Docker SDK: byte 0 is the stream (1 stdout, 2 stderr), bytes
4-7 the payload length, big-endian. With ``timestamps=1`` each line starts with an RFC 3339 time with
nanoseconds and one space.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime

HEADER = struct.Struct(">BxxxI")
STREAMS = {0: "stdin", 1: "stdout", 2: "stderr"}


@dataclass(frozen=True)
class LogLine:
    stream: str  # stdout or stderr
    time: datetime | None
    text: str  # without the line break


class FrameDecoder:
    """Feed it the body's chunks in order; it returns the lines of each complete frame.

    Docker writes one log message per frame (its timestamp first), so lines never span frames; a frame
    without a final line break is a message without one (a last line, or a piece of a line longer than
    Docker's 16 KiB message limit, which then comes with its own timestamp)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[LogLine]:
        self._buffer += chunk
        lines: list[LogLine] = []
        while len(self._buffer) >= HEADER.size:
            kind, size = HEADER.unpack_from(self._buffer)
            if len(self._buffer) < HEADER.size + size:
                break
            payload = bytes(self._buffer[HEADER.size : HEADER.size + size])
            del self._buffer[: HEADER.size + size]
            stream = STREAMS.get(kind, "stdout")
            text = payload.decode("utf-8", "replace").removesuffix("\n")
            lines.extend(split_timestamp(stream, line) for line in text.split("\n"))
        return lines

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame (non-zero at the end of a body means it was cut short)."""
        return len(self._buffer)


def split_timestamp(stream: str, line: str) -> LogLine:
    """``2024-05-01T10:00:00.123456789Z text`` -> the time and the text (no time if there is none)."""
    stamp, space, text = line.partition(" ")
    try:
        when = datetime.fromisoformat(stamp).astimezone(UTC) if space else None
    except ValueError:
        when = None
    return LogLine(stream, when, text if when is not None else line)
