#!/bin/sh
# The Lambda's handler behind the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap):
# the adapter starts this, waits for GET /health on $PORT, then sends it every invoke over HTTP.
exec python3 -m chat_gateway.server
