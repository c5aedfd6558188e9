"""Scalar conversions shared by the wire formats: timestamps and blobs.

A shape may name its ``timestampFormat`` (``iso8601``, ``unixTimestamp``, ``rfc822``); otherwise JSON uses
epoch seconds and Query uses ISO 8601, as botocore's serializers and parsers do.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any


def timestamp_format(shape: Any, default: str) -> str:
    """The shape's ``timestampFormat`` in lower case, else ``default``."""
    return str(shape.serialization.get("timestampFormat", default)).lower()


def parse_timestamp(value: Any, fmt: str) -> datetime:
    """A wire timestamp as an aware UTC datetime; ``ValueError`` when it is not one.

    Numbers are epoch seconds whatever the format (botocore sends them for JSON); strings are read as
    ``fmt`` says, with epoch-seconds strings accepted too.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    text = value.strip()
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    if fmt == "rfc822":
        try:
            return _aware(parsedate_to_datetime(text))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not an RFC 822 date: {value!r}") from exc
    return _aware(datetime.fromisoformat(text))


def _from_epoch(seconds: float) -> datetime:
    if not math.isfinite(seconds):
        raise ValueError("not a finite number of seconds")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError) as exc:
        raise ValueError("timestamp out of range") from exc


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_timestamp(value: datetime | float, fmt: str) -> float | str:
    """``value`` (a datetime, naive meaning UTC, or epoch seconds) in wire format ``fmt``."""
    if isinstance(value, datetime):
        moment = _aware(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = _from_epoch(float(value))
    else:
        raise TypeError(f"{type(value).__name__} is not a timestamp")
    if fmt == "unixtimestamp":
        seconds = moment.timestamp()
        return int(seconds) if seconds.is_integer() else round(seconds, 3)
    if fmt == "rfc822":
        return format_datetime(moment, usegmt=True)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def decode_blob(text: Any) -> bytes:
    """A base64 wire blob as bytes; ``ValueError`` when ``text`` is not strict base64."""
    if not isinstance(text, str):
        raise ValueError("a blob must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64") from exc


def encode_blob(value: bytes | bytearray | str) -> str:
    """``value`` as base64 text (a ``str`` is encoded as UTF-8 first, as botocore does)."""
    raw = value.encode() if isinstance(value, str) else bytes(value)
    return base64.b64encode(raw).decode("ascii")
