"""What every student's grading process needs, imported once by the batch grader's fork server.

``course grade`` starts one pytest process per student. A fresh one spends about 2.5 s importing
torch and pytest before its first test; a fork of a server that imported them already starts in
milliseconds. The server runs nothing else: no student code, no suite, so every fork starts clean.
"""

import gc

import pytest  # noqa: F401
import torch
import torch._dynamo  # noqa: F401  torch.optim imports it; 1-2 s on a slow CPU

torch.set_num_threads(1)  # as OMP_NUM_THREADS=1 for a fresh process: the batch's jobs share the cores
# The forks' garbage collector skips what the server holds: otherwise each collection walks (and
# so copies, page by page) the whole of torch in every fork.
gc.freeze()
