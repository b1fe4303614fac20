"""Upstream: the Huawei Cloud HTTP client, request signing, IAM tokens and the per-API request budget."""
