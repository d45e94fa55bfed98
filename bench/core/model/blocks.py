"""How much of a job the model's loops take at once: sizes of blocks of items, rows and cells.

They trade temporaries' memory for per-call overhead and change no result. They are read at
call time (``blocks.NAME``), so a test may shrink them to reach more blocks.
"""

# Items whose request costs the loops work out at once.
COST_BLOCK_ITEMS = 256
# Item rows counted at once for FastFile's GETs.
PARTS_BLOCK_ITEMS = 1024
# Item rows searched at once for Pipe's step ends.
STEP_BLOCK_ITEMS = 128
# (file, row) cells a FastFile epoch works on at once. Temporaries of about a megabyte are
# reused from the heap; arrays of tens of MB are fresh pages each time, and first touching a
# page can cost more than the arithmetic (2 ns a byte on a 2-core VM: 0.17 s for 80 MB).
FASTFILE_BLOCK_CELLS = 100_000
# Rows up to which numpy's accumulate along axis 0 beats one operation per row of a round.
ACCUMULATE_MAX_ROWS = 64

BLOCK_SIZES = (
    "COST_BLOCK_ITEMS",
    "PARTS_BLOCK_ITEMS",
    "STEP_BLOCK_ITEMS",
    "FASTFILE_BLOCK_CELLS",
    "ACCUMULATE_MAX_ROWS",
)
