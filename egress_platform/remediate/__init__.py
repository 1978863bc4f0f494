"""Remediation: the catalog of actions, plans bound to approvals, and the accounts they act on."""
