"""Blob storage: dumb drivers (``filesystem``) under one content-addressed layer (``content``)."""
