"""course_lib: the shared code of the course "Sequence Models, from n-grams to Transformers".

One concept per module: ``device`` (where and how code runs), ``text`` (vocabularies and
tokenizers), ``corpora`` (the real data sets), ``data`` (batches and loaders), ``ngram``,
``hmm``, ``models`` (neural networks), ``training`` (with ``checkpoints``, which make runs
resumable), ``decoding``, ``metrics``, ``plotting`` and ``grading``. Notebooks import what an
earlier chapter already showed.
"""

__version__ = "0.1.0"
