"""The image scanner (an adapter): reads untrusted layers into a package inventory.

``layers`` turns an image's layer tarballs into a :class:`~dockyard.scanner.rootfs.RootFs` holding only the
files some cataloguer wants (whiteouts applied, everything bounded); each cataloguer reads one kind of
package database from it. See ``docs/scanning.md``.
"""
