"""Retrieval-augmented generation on Weaviate."""
