"""The account's network as the classifier needs it: AWS IP ranges, VPC metadata, destinations."""
