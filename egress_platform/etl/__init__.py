"""The Glue layer's transforms (processed zone) as pure polars functions."""
