"""A hand-built inventory for the SBOM tests: one package of each kind a scan reports, with the license
strings package databases really hold (SPDX ids, expressions, Debian copyright names, rpm ``License:``
tags)."""

from __future__ import annotations

from datetime import UTC, datetime

from dockyard.domain.scanning.inventory import Inventory, OsInfo, Package
from dockyard.sbom import SbomSubject

DIGEST = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"
SUBJECT = SbomSubject(
    repository="team/web-app",
    digest=DIGEST,
    tags=("1.4.2", "latest"),
    registry_host="registry.example.com:5000",
)
IMAGE_PURL = (
    "pkg:oci/web-app@sha256%3A5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"
    "?repository_url=registry.example.com:5000/team/web-app"
)
CREATED = datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)
DEBIAN = OsInfo(
    id="debian", version_id="12", pretty_name="Debian GNU/Linux 12 (bookworm)", codename="bookworm"
)

LOGIN = Package(  # epoch and a source package of another name; Debian copyright license names
    type="deb",
    name="login",
    version="1:4.13+dfsg1-1+b1",
    purl="pkg:deb/debian/login@1:4.13%2Bdfsg1-1%2Bb1?arch=amd64&distro=debian-12&upstream=shadow%401:4.13%2Bdfsg1-1",
    path="/var/lib/dpkg/status",
    source_name="shadow",
    source_version="1:4.13+dfsg1-1",
    arch="amd64",
    licenses=("GPL-2+", "BSD-3-clause"),
)
LIBC6 = Package(
    type="deb",
    name="libc6",
    version="2.36-9+deb12u4",
    purl="pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc",
    path="/var/lib/dpkg/status",
    source_name="glibc",
    source_version="2.36-9+deb12u4",
    arch="amd64",
    licenses=("LGPL-2.1", "GPL-2", "BSD-style"),
)
MUSL = Package(
    type="apk",
    name="musl",
    version="1.2.4-r2",
    purl="pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=3.18.4",
    path="/lib/apk/db/installed",
    source_name="musl",
    source_version="1.2.4-r2",
    arch="x86_64",
    licenses=("MIT",),
)
OPENSSL_LIBS = Package(  # an rpm License: tag that is no SPDX expression
    type="rpm",
    name="openssl-libs",
    version="1:3.0.7-25.el9_3",
    purl="pkg:rpm/redhat/openssl-libs@3.0.7-25.el9_3?arch=x86_64&distro=rhel-9.3&epoch=1",
    path="/var/lib/rpm/rpmdb.sqlite",
    source_name="openssl",
    source_version="3.0.7-25.el9_3",
    arch="x86_64",
    licenses=("ASL 2.0",),
)
FLASK = Package(
    type="pypi",
    name="flask",
    version="2.0.0",
    purl="pkg:pypi/flask@2.0.0",
    path="/usr/local/lib/python3.11/site-packages/Flask-2.0.0.dist-info/METADATA",
    licenses=("BSD-3-Clause",),
)
CRYPTOGRAPHY = Package(  # an expression next to a plain id: must become one expression in CycloneDX
    type="pypi",
    name="cryptography",
    version="41.0.3",
    purl="pkg:pypi/cryptography@41.0.3",
    path="/usr/local/lib/python3.11/site-packages/cryptography-41.0.3.dist-info/METADATA",
    licenses=("Apache-2.0 OR BSD-3-Clause", "PSF-2.0"),
)
BABEL_CORE = Package(  # scoped npm; an expression next to a name that is no SPDX id
    type="npm",
    name="core",
    version="7.22.5",
    purl="pkg:npm/%40babel/core@7.22.5",
    path="/app/node_modules/@babel/core/package.json",
    namespace="babel",
    licenses=("(MIT OR Apache-2.0)", "Public Domain"),
)
STDLIB = Package(  # the Go toolchain, without licenses
    type="golang",
    name="stdlib",
    version="go1.19.8",
    purl="pkg:golang/stdlib@go1.19.8",
    path="/usr/local/bin/server",
)
LOGRUS = Package(
    type="golang",
    name="github.com/sirupsen/logrus",
    version="v1.9.3",
    purl="pkg:golang/github.com/sirupsen/logrus@v1.9.3",
    path="/usr/local/bin/server",
    licenses=("MIT",),
)
LOG4J = Package(
    type="maven",
    name="log4j-core",
    version="2.14.1",
    purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
    path="/app/lib/log4j-core-2.14.1.jar",
    namespace="org.apache.logging.log4j",
    licenses=("Apache-2.0",),
)
PACKAGES = (LOGIN, LIBC6, MUSL, OPENSSL_LIBS, FLASK, CRYPTOGRAPHY, BABEL_CORE, STDLIB, LOGRUS, LOG4J)
INVENTORY = Inventory(os=DEBIAN, packages=PACKAGES)
