"""Detection: hourly series per entity and destination class, features, model, anomalies."""
