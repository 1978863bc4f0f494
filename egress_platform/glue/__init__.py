"""PySpark Glue job scripts (deployed by the CDK stack, run locally by the parity test)."""
