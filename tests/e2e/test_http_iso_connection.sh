#!/usr/bin/env bash
# test_http.sh in the isolated design: a fresh worker per connection.
HTTP_ISOLATION=connection HTTP_RECYCLE=fresh exec bash "$(dirname "$0")/test_http.sh"
