"""Development tools: not part of the product package (`statutory_clock`), never installed.

- `devtools.mailcatcher`: a local SMTP server that keeps every email as a `.eml` file, for
  `./run.sh`, `scripts/prove-topology.sh` and the tests.
"""
