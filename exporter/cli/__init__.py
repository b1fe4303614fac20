"""The command line: run, check-config, export-connections and demo."""
