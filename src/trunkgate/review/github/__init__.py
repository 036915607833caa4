"""The GitHub review source: webhooks in, the REST API out."""
