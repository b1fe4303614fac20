"""The application: exporters built from sources, their runners, several targets in one process,
reload.
"""
