#!/usr/bin/env bash
# test_http.sh in the isolated design: a pool of 3 workers sharing every connection,
# the policy given in the manager's config (services[].isolation), not on the NF's command line.
HTTP_ISOLATION=pool:3 HTTP_RECYCLE=fresh HTTP_ISO_VIA=config exec bash "$(dirname "$0")/test_http.sh"
