"""workspace-exporter: a Prometheus exporter for Huawei Cloud Workspace (cloud desktops)."""

__version__ = "0.1.0"
