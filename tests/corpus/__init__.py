"""The corpus of malformed and awkward datasets (issue 14); see make_corpus.py."""
