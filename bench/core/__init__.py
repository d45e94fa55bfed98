"""The numpy core: size distributions, sharding, metrics and timelines.

Pure functions over arrays. Nothing here imports an I/O library or talks to S3.
"""
