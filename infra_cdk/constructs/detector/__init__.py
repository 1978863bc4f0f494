"""The hourly detector Lambda (``handler.py``), invoked by an EventBridge Scheduler schedule."""
