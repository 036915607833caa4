"""Configuration every site starts from: standard pipelines, the base job and
the Python Project Testing Interface jobs. A site's own items of the same name
replace these."""
