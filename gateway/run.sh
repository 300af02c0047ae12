#!/bin/sh
# The Lambda's handler behind the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap):
# the adapter starts this, waits for GET /health on $PORT, then sends it every invoke over HTTP.
# The runtime's own folder holds boto3 (SSM, Secrets Manager), as the adapter's examples add it.
export PYTHONPATH="${LAMBDA_TASK_ROOT:-.}:/opt/python${LAMBDA_RUNTIME_DIR:+:$LAMBDA_RUNTIME_DIR}${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m chat_gateway.server
