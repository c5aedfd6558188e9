"""Package URLs for catalogued packages, following Syft's conventions so SBOMs line up with other tools.

OS packages carry the distribution as namespace (``debian``, ``ubuntu``, ``alpine``, ``redhat`` for RHEL,
``opensuse`` for every openSUSE flavour) and a ``distro=<id>-<version_id>`` qualifier; ``arch`` and, where
the binary package is built from a differently named source, ``upstream`` qualifiers as Syft writes them
(rpm also ``epoch``). packageurl-python renders qualifiers in the spec's canonical (sorted) order, so
``distro`` is not always last as in Syft's output; purl comparison ignores qualifier order.
"""

from __future__ import annotations

from packageurl import PackageURL

from dockyard.domain.scanning.inventory import OsInfo


def distro_qualifier(os: OsInfo | None) -> str | None:
    """Syft's ``distro`` qualifier: ``<ID>-<VERSION_ID>`` (just the ID when the version is unknown)."""
    if os is None or not os.id:
        return None
    return f"{os.id}-{os.version_id}" if os.version_id else os.id


def make_purl(
    type_: str,
    namespace: str | None,
    name: str,
    version: str,
    qualifiers: dict[str, str | None] | None = None,
) -> str:
    """A canonical purl string; empty or ``None`` qualifier values are dropped."""
    kept = {key: value for key, value in (qualifiers or {}).items() if value}
    return str(
        PackageURL(type=type_, namespace=namespace or None, name=name, version=version, qualifiers=kept)
    )


def os_purl(
    type_: str,
    namespace: str,
    name: str,
    version: str,
    os: OsInfo | None,
    qualifiers: dict[str, str | None],
) -> str:
    """A purl for an OS package: ``qualifiers`` plus the ``distro`` qualifier of ``os``."""
    return make_purl(type_, namespace, name, version, {**qualifiers, "distro": distro_qualifier(os)})
