# check.sh: the pass/fail bookkeeping of the end-to-end scripts; source it.
pass=0
fail=0

check() { # description, command...: the command's status decides
    local what=$1
    shift
    if "$@"; then
        echo "ok   $what"
        pass=$((pass + 1))
    else
        echo "FAIL $what"
        fail=$((fail + 1))
    fi
}

summary() { # name: the last line (what run-tests.sh reads) and the exit status
    echo "$1: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
