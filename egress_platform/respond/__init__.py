"""Response: the workflow's steps and the alerts it sends."""
