#!/bin/sh
# Build mq, mq-cat and attach into bin/, start mq, and run a detached
# shell session through it: the README's first command.
set -e
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/mq . && go build -o bin/mq-cat ./mqcat && go build -o bin/attach ./attach
PATH=$PWD/bin:$PATH
NAMESPACE=$(mktemp -d)
export NAMESPACE
mq -s demo &
mqpid=$!
trap 'kill $mqpid 2>/dev/null; rm -rf "$NAMESPACE"' EXIT
while ! [ -S "$NAMESPACE/demo" ]; do sleep 0.1; done

run() { echo "% $*"; "$@"; }
run attach -s demo -c hello sh
run attach -s demo -w hello 'echo hello from a detached shell; echo oops >&2'
run attach -s demo -w hello 'exit 3'
until attach -s demo -l | grep -q 'exit'; do sleep 0.1; done
run attach -s demo -l
echo '% attach -s demo hello </dev/null'
attach -s demo hello </dev/null || echo "(attach exited $?, the shell's status)"
echo '% mq-cat -p -s demo hello &; attach -s demo -k hello'
mq-cat -p -s demo hello &
catpid=$!
sleep 0.5
attach -s demo -k hello
wait $catpid && st=0 || st=$?
echo
echo "(mq-cat exited $st: the group was removed)"
