"""Recordings: naming now; post-processing, retention and access come with their issue."""
