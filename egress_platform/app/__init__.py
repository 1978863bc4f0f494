"""The application: the code location (definitions), the commands and what they run.

It sits on top and imports everything; nothing below imports it (import-linter holds this).
"""
