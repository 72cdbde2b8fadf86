"""pytest set-up for the whole repository (unit tests and nbval notebook runs).

Quick mode, no progress bars, no network for Hugging Face, one BLAS thread per process.
Set here, before anything imports torch, so notebook kernels started by nbval inherit it.
"""

import os

for _key, _value in {
    "COURSE_QUICK": "1",
    "TQDM_DISABLE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "MPLBACKEND": "Agg",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}.items():
    os.environ.setdefault(_key, _value)
