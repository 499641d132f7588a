#!/usr/bin/env bash
echo "make run: not yet — the proxy core (issue 3) has not landed."
