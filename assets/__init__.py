"""Dagster assets: thin wrappers over the domain code in ``egress_platform``."""

import warnings

# Dagster marks BackfillPolicy and other stable parameters as beta; the warnings say nothing to a
# user of the platform and fill every command's output.
warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
