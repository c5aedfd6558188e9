"""The two small text formats inside Java archives: ``META-INF/MANIFEST.MF`` and Maven's ``pom.properties``.

Both are parsed leniently, line by line, exactly as Syft reads them (its tests' fixtures are ours): in a
manifest an empty line ends a section, a line starting with a space continues the previous value
(trimmed), and lines without a colon or with an empty key are skipped rather than failing the archive;
in ``pom.properties`` the key ends at the first ``=`` or ``:``. ``java.util.jar.Manifest`` and
``java.util.Properties`` semantics (72-byte line wrapping, escapes) are not needed for the fields read.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Manifest:
    """A manifest's main section and its named (per-entry) sections."""

    main: dict[str, str] = field(default_factory=dict)
    sections: list[dict[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str:
        """The value in the main section, else in the first named section that has it, else ``""``."""
        for section in (self.main, *self.sections):
            if section.get(key):
                return section[key]
        return ""


def parse_manifest(text: str) -> Manifest:
    sections: list[dict[str, str]] = []
    last_key = ""
    for line in text.splitlines():
        if line == "":
            last_key = ""
        elif line[0] == " ":
            if last_key:
                sections[-1][last_key] += line.strip()
        else:
            key, colon, value = line.partition(":")
            key = key.strip()
            if not colon or not key:
                continue
            if not last_key:
                sections.append({})
            sections[-1][key] = value.strip()
            last_key = key
    if not sections:
        return Manifest()
    return Manifest(main=sections[0], sections=sections[1:])


def parse_properties(text: str) -> dict[str, str]:
    """``key=value`` / ``key:value`` lines (``#`` comments and lines without a separator skipped)."""
    properties = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip(" ").startswith("#"):
            continue
        separator = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if separator >= 0:
            properties[line[:separator].strip()] = line[separator + 1 :].strip()
    return properties


def parse_pom_properties(text: str) -> tuple[str, str, str] | None:
    """``(groupId, artifactId, version)``; ``None`` without an artifact or version. A missing group is
    taken to be the artifact, as Syft does when it makes the purl."""
    properties = parse_properties(text)
    artifact, version = properties.get("artifactId", ""), properties.get("version", "")
    if not artifact or not version:
        return None
    return properties.get("groupId") or artifact, artifact, version
