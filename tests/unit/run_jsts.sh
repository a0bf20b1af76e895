#!/bin/sh
# Runs the JSON-Schema test suite (Debian's json-schema-test-suite) through our validator.
exec ./tests/unit/test_jsts "${JSTS_DIR:-/usr/share/json-schema-test-suite/tests/draft4}"
