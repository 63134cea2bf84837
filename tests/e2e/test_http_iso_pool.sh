#!/usr/bin/env bash
# test_http.sh in the isolated design: a pool of 3 workers sharing every connection.
HTTP_ISOLATION=pool:3 HTTP_RECYCLE=fresh exec bash "$(dirname "$0")/test_http.sh"
