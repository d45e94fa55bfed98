"""The live data paths: one module per SageMaker input mode, the same interface for each.

Each module exposes ``async def run_host(ctx: HostContext) -> HostOutcome``.
"""
