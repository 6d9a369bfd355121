"""Demo collection for ``memoria demo``: records.csv, mapping.toml and generated images."""
