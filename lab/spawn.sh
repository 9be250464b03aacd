#!/bin/bash
# spawn.sh NAME [--node NODE] CMD...: start a long-lived lab process (see spawn in lib.sh).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
spawn "$@"
