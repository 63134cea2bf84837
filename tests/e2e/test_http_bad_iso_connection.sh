#!/usr/bin/env bash
# test_http_bad.sh in the isolated design: a worker per connection, scrubbed and reused.
HTTP_ISOLATION=connection HTTP_RECYCLE=scrub exec bash "$(dirname "$0")/test_http_bad.sh"
