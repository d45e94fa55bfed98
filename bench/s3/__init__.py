"""The S3 layer: clients, error translation, the embedded server, populate and listing.

It knows nothing of sharding or reports.
"""
