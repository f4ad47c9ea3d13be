#!/bin/sh
echo "@GREETING@ from ${APP_NAME}, built by strata"
echo "running as uid $(id -u) in $(pwd) on host $(hostname)"
