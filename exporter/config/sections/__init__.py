"""The config file's sections: one frozen dataclass per top-level key, validated from its
fields' metadata (:mod:`exporter.config.schema`). A source's section lives in a module
named after it."""
