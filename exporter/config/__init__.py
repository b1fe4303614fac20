"""Configuration: the config file's dataclasses, YAML and environment loading, validation with key
paths, credentials, targets and the web config.
"""
