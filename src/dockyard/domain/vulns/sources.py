"""Reading OSV records from what an operator has on disk: JSON or YAML files, directories of them
(recursively), and the ``<Ecosystem>/all.zip`` dumps osv.dev publishes (one ``<ID>.json`` per member).

Records are yielded one at a time, so an import holds only its current batch: zip members are read one by
one through the archive's central directory, each at most ``MAX_RECORD_BYTES`` however large its header
claims to be, an archive of more than ``MAX_ZIP_MEMBERS`` members is refused, and members that are not
``.json`` are skipped. Whatever cannot be read or parsed comes out as a :class:`Rejected` with its file
name (``archive.zip!member.json`` for a member) and a reason; it never stops the reading. YAML is loaded
with every scalar a string (versions like ``2.10`` must not become floats, nor times datetimes) and
without anchors or aliases, which OSV has no use for and which could expand into huge records.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dockyard.domain.vulns.osv import Advisory, InvalidAdvisory, parse_advisory

MAX_RECORD_BYTES = 32 * 1024 * 1024
MAX_ZIP_MEMBERS = 1_000_000
RECORD_SUFFIXES = (".json", ".yaml", ".yml")
ZIP_SUFFIX = ".zip"


@dataclass(frozen=True, slots=True)
class Parsed:
    source: str
    advisory: Advisory


@dataclass(frozen=True, slots=True)
class Rejected:
    source: str
    reason: str


Item = Parsed | Rejected


class _StringLoader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """Safe YAML where every scalar but ``null`` stays a string, and aliases are refused."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if node in self.constructed_objects:
            raise yaml.constructor.ConstructorError(None, None, "aliases are not allowed", node.start_mark)
        return super().construct_object(node, deep)


def read_records(path: Path) -> Generator[Item, None, None]:
    """Every record under ``path`` (a file, a zip dump or a directory), in a stable order."""
    if path.is_dir():
        for file in _files(path):
            yield from _read_file(file)
    else:
        yield from _read_file(path)


def count_records(path: Path) -> int:
    """How many records :func:`read_records` will look at (files, and ``.json`` members of dumps)."""
    files = _files(path) if path.is_dir() else [path]
    total = 0
    for file in files:
        if file.suffix.lower() == ZIP_SUFFIX:
            try:
                with zipfile.ZipFile(file) as archive:
                    total += sum(1 for info in archive.infolist() if _is_record_member(info))
            except (OSError, zipfile.BadZipFile):
                total += 1
        else:
            total += 1
    return total


def _files(directory: Path) -> list[Path]:
    found = []
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        found += [Path(root, name) for name in sorted(names) if _wanted(name)]
    return found


def _wanted(name: str) -> bool:
    return name.lower().endswith((*RECORD_SUFFIXES, ZIP_SUFFIX)) and not name.startswith(".")


def _read_file(path: Path) -> Iterator[Item]:
    source = str(path)
    if path.suffix.lower() == ZIP_SUFFIX:
        yield from _read_zip(path)
        return
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            yield Rejected(source, f"larger than {MAX_RECORD_BYTES} bytes")
            return
        data = path.read_bytes()
    except OSError as exc:
        yield Rejected(source, f"cannot read: {exc.strerror or exc}")
        return
    yield from decode(source, data, yaml_text=path.suffix.lower() in (".yaml", ".yml"))


def _is_record_member(info: zipfile.ZipInfo) -> bool:
    return not info.is_dir() and info.filename.lower().endswith(".json")


def _read_zip(path: Path) -> Iterator[Item]:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                yield Rejected(str(path), f"more than {MAX_ZIP_MEMBERS} members")
                return
            for info in infos:
                if _is_record_member(info):
                    yield from _read_member(archive, info, f"{path}!{info.filename}")
    except (OSError, zipfile.BadZipFile) as exc:
        yield Rejected(str(path), f"not a readable zip archive: {exc}")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> Iterator[Item]:
    if info.file_size > MAX_RECORD_BYTES:
        yield Rejected(source, f"larger than {MAX_RECORD_BYTES} bytes")
        return
    try:
        with archive.open(info) as member:
            data = member.read(MAX_RECORD_BYTES + 1)
    except (OSError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError) as exc:
        yield Rejected(source, f"cannot read member: {exc}")
        return
    if len(data) > MAX_RECORD_BYTES:
        yield Rejected(source, f"larger than {MAX_RECORD_BYTES} bytes")
        return
    yield from decode(source, data, yaml_text=False)


def decode(source: str, data: bytes, *, yaml_text: bool) -> Iterator[Item]:
    """The records in one file's bytes: one object, or a list of them (``source[index]`` each)."""
    try:
        document = _load_yaml(data) if yaml_text else json.loads(data)
    except (ValueError, yaml.YAMLError, RecursionError) as exc:
        yield Rejected(source, f"not valid {'YAML' if yaml_text else 'JSON'}: {_first_line(exc)}")
        return
    if isinstance(document, list):
        for index, item in enumerate(document):
            yield _parse(f"{source}[{index}]", item)
    else:
        yield _parse(source, document)


def _load_yaml(data: bytes) -> Any:
    return yaml.load(data, Loader=_StringLoader)  # noqa: S506 - a safe loader, with fewer resolvers


def _parse(source: str, document: object) -> Item:
    try:
        return Parsed(source, parse_advisory(document))
    except InvalidAdvisory as exc:
        return Rejected(source, exc.reason)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
