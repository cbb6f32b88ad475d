"""The `fme` command: a thin layer over generation/, eval/, study/ and db/."""
